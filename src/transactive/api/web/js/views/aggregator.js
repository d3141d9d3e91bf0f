// The aggregator's page, organised by task: Run an event (announce one from the API's description of an event;
// my events: offers as they arrive, clear, record deliveries, settle, each delivery against the usual
// consumption), All events, the ledger explorer, and the trading page it shares with prosumers (nested tabs).

import { h } from "../dom.js";
import { hideEmptyTabs, tabs } from "../tabs.js";
import { explorerPanel } from "./ledger.js";
import { aggregatorTabs } from "./negawatt.js";
import { coalesced } from "./common.js";
import { traderView } from "./trader.js";

export function aggregatorView(session) {
  const getCommunity = () => session.community;
  const run = aggregatorTabs(getCommunity, session.me);
  const explorer = explorerPanel(getCommunity);
  const trading = traderView(session);
  const onNegawatt = coalesced(() => Promise.all([run.events.watch(), run.all.load()]));
  const onLedger = coalesced(() => explorer.load());
  const node = h("div", { dataset: { view: "aggregator" } }, tabs([
    { id: "events", label: "Run an event", sections: [run.announce.section, run.events.section] },
    { id: "all-events", label: "All events", sections: [run.all.section] },
    { id: "ledger", label: "Ledger", sections: [explorer.section] },
    { id: "trading", label: "Trade and my money", sections: [trading.node] },
  ], { label: "Aggregator tasks" }));
  return {
    node,
    // the clock main.js reloads on a phase event (and every 5 s while the event stream is down): the trading
    // page's clock, and the open event's offers, so offers still arrive while the stream is down
    clock: { load: () => Promise.all([trading.clock.load(), run.events.watch().catch(() => {})]) },
    init: trading.init,
    async load() {
      await Promise.all([...run.panels.map((p) => p.load()), explorer.load(), trading.load()]);
      hideEmptyTabs(node);
    },
    /** A live event (main.js): an offer or a clearing redraws the open event; the rest goes to the trading page. */
    async onEvent(name, data) {
      if (name === "negawatt") {
        await onNegawatt();
      } else {
        if (name === "ledger" || name === "resync") await onLedger();
        await trading.onEvent(name, data);
      }
    },
  };
}
