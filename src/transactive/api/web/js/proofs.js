// Merkle inclusion proofs (transactive.merkle-proof/1, docs/ledger.md) checked in the browser, as
// transactive.ledger.audit.proofs.verify_proof does in Python, except the order's signature (secp256k1 is not
// shipped here: `transactive ledger proof --verify` checks it):
// 1. the leaf's value from the data: an order's EIP-712 struct hash from its fields; a result's ABI encoding of
//    (uint256 slot, address account, int256 energyWh, int256 amountMicro);
// 2. leaf = keccak256(keccak256(value)) (OpenZeppelin's StandardMerkleTree leaf);
// 3. fold the proof: node = keccak256(min(node, sibling) ‖ max(node, sibling)), up to the root;
// 4. that root equals the proof's root and the root anchored on chain (given by the caller).

import { fromHex, keccak256, keccakText, toHex } from "./keccak.js";

// version 1 (attributes signed separately) and version 2 (one signature: the order commits to its attributes' hash)
const ORDER_V1_TYPE = "Order(address trader,uint256 slot,uint8 side,uint256 energyWh,uint256 priceMicroPerKwh,uint256 nonce)";
const ORDER_V2_TYPE = "Order(address trader,uint256 slot,uint8 side,uint256 energyWh,uint256 priceMicroPerKwh,uint256 nonce,bytes32 attributesHash)";
const TWO_256 = 1n << 256n;

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A 32-byte ABI word of an integer (int256 in two's complement when negative). */
function word(value) {
  let n = BigInt(value);
  if (n < 0n) n += TWO_256;
  if (n < 0n || n >= TWO_256) throw new Error(`out of range for 256 bits: ${value}`);
  return fromHex(n.toString(16).padStart(64, "0"));
}

function addressWord(address) {
  const raw = fromHex(address);
  if (raw.length !== 20) throw new Error(`not an address: ${address}`);
  return concat([new Uint8Array(12), raw]);
}

const sameHex = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/**
 * JSON text parsed with every integer beyond JavaScript's exact range (2^53) kept as a decimal string (the chain's
 * slot numbers are 64-bit): JSON.parse alone would round them. Only numbers after ':', '[' or ',' are touched;
 * the proof documents' strings are hex ("0x…") or words, never a run of 16+ digits after such a character.
 */
export function parseExact(text) {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"'));
}

/** The EIP-712 struct hash of an order's fields (hex); version 2 when the order carries `attributesHash`. */
export function orderStructHash(order) {
  const v2 = order.attributesHash !== undefined && order.attributesHash !== null;
  const fields = [fromHex(keccakText(v2 ? ORDER_V2_TYPE : ORDER_V1_TYPE)), addressWord(order.trader), word(order.slot),
    word(order.side), word(order.energyWh), word(order.priceMicroPerKwh), word(order.nonce)];
  if (v2) {
    const hash = fromHex(order.attributesHash);
    if (hash.length !== 32) throw new Error(`attributesHash: expected 32 bytes`);
    fields.push(hash);
  }
  return toHex(keccak256(concat(fields)));
}

/** The Merkle leaf of ABI-encoded bytes: keccak256(keccak256(encoded)) (hex). */
export function leafOf(encoded) {
  return toHex(keccak256(keccak256(encoded)));
}

/** Fold a proof into a leaf (commutative pairs, as MerkleProof.processProof); the root (hex). */
export function processProof(leafHex, proof) {
  let node = fromHex(leafHex);
  for (const siblingHex of proof) {
    const sibling = fromHex(siblingHex);
    const [a, b] = toHex(node) <= toHex(sibling) ? [node, sibling] : [sibling, node];
    node = keccak256(concat([a, b]));
  }
  return toHex(node);
}

/**
 * Check one proof document; `chainRoot` is the root anchored on chain (hex) or null.
 * Returns {ok, what, steps: [text], error?}: every check made, in order, in plain words.
 */
export function verifyProof(doc, chainRoot) {
  const steps = [];
  const fail = (error) => ({ ok: false, what: doc?.kind ?? "proof", steps, error });
  try {
    if (doc?.format !== "transactive.merkle-proof/1") return fail(`not a transactive.merkle-proof/1 document`);
    let encoded;
    let what;
    if (doc.kind === "order") {
      const struct = orderStructHash(doc.order);
      if (!sameHex(struct, doc.value?.[0])) return fail("the value is not the hash of the order's fields");
      if (BigInt(doc.order.slot) !== BigInt(doc.slot)) return fail("the order is for another slot");
      steps.push("the order's fields hash to the leaf's value");
      encoded = fromHex(struct);
      what = `${doc.order.side === 0 ? "sell" : "buy"} order: ${doc.order.energyWh} Wh at ${doc.order.priceMicroPerKwh} micro-tokens per kWh`;
    } else if (doc.kind === "result") {
      const [slot, account, energyWh, amountMicro] = doc.value;
      if (BigInt(slot) !== BigInt(doc.slot)) return fail("the result is for another slot");
      encoded = concat([word(slot), addressWord(account), word(energyWh), word(amountMicro)]);
      what = `result: ${energyWh} Wh (+ sold, − bought), ${amountMicro} micro-tokens (+ received, − paid)`;
    } else if (doc.kind === "attributes") {
      encoded = fromHex(doc.value?.[0]); // the attributes' struct hash (bus), taken as given
      if (doc.order) { // version 2: covered by the trader's order, which commits to this hash
        if (!sameHex(doc.order.attributesHash, doc.value?.[0])) {
          return fail("the attributes' hash is not the one the trader's order commits to");
        }
        steps.push("the trader's order commits to these attributes (attributesHash)");
      }
      what = `signed attributes (bus ${doc.attributes?.bus ?? "?"})`;
    } else {
      return fail(`unknown kind ${doc.kind}`);
    }
    const leaf = leafOf(encoded);
    if (!sameHex(leaf, doc.leaf)) return fail(`the leaf ${doc.leaf} does not match its value (computed ${leaf})`);
    steps.push(`leaf ${leaf}`);
    const root = processProof(leaf, doc.proof);
    steps.push(`${doc.proof.length} sibling hash${doc.proof.length === 1 ? "" : "es"} lead to ${root}`);
    if (!sameHex(root, doc.root)) return fail(`the proof leads to ${root}, not to its root ${doc.root}`);
    if (chainRoot && !sameHex(root, chainRoot)) return fail(`the root ${root} is not the one anchored on chain (${chainRoot})`);
    if (chainRoot) steps.push("which is the root anchored on chain");
    return { ok: true, what, steps };
  } catch (error) {
    return fail(`malformed proof: ${error.message}`);
  }
}
