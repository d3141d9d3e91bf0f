"""The consortium ledger: Vyper contracts, chain engines (embedded py-evm, JSON-RPC), signed orders, Merkle
commitments, endorsements and proofs.

On-chain half:

* :mod:`transactive.ledger.chain` -- the engine seam (``Chain`` protocol, ABI helpers, ``ChainRevert``);
* :mod:`transactive.ledger.embedded` / :mod:`transactive.ledger.rpc` -- embedded py-evm chain persisted to a
  data directory / any Ethereum JSON-RPC node; :mod:`transactive.ledger.connect` picks one;
* :mod:`transactive.ledger.compiler` -- Vyper contracts in ``contracts/``, compiled and cached by source hash;
* :mod:`transactive.ledger.constants` -- the contracts' role bits, slot states, modes and slot record fields
  (the only Python copy; import-light);
* :mod:`transactive.ledger.deploy` -- deploying the contract suite (tests, benchmarks, the simulated day).

Off-chain half:

* :mod:`transactive.ledger.eip712` -- typed-data hashing (domain, ``Order``, ``Endorsement``);
* :mod:`transactive.ledger.signing` -- keys, recoverable ECDSA signatures, parallel batch verification;
* :mod:`transactive.ledger.merkle` -- OpenZeppelin ``StandardMerkleTree``-compatible trees and proofs;
* :mod:`transactive.ledger.orders_codec` -- :class:`~transactive.orders.Orders` <-> signed order messages,
  order verification with replay protection (nonce store), result leaves;
* :mod:`transactive.ledger.attributes` -- per-participant attributes signed by the trader (feeder bus,
  distance preference, welfare parameters) for grid-aware mechanisms, committed in the order tree;
* :mod:`transactive.ledger.market_batch` -- a market file as a signed slot batch (simulations, demos, tests);
* :mod:`transactive.ledger.commitments` -- order / result leaves and trees of a slot, the settlement tree;
* :mod:`transactive.ledger.endorsement` -- validators' k-of-n endorsements of a slot's roots;
* :mod:`transactive.ledger.nonces` -- replay protection (nonce store interface, in-memory store);
* :mod:`transactive.ledger.proofs` -- the slot batch file and the JSON inclusion-proof format;
* :mod:`transactive.ledger.proof_cli` -- ``transactive ledger proof`` (make / verify proofs);
* :mod:`transactive.ledger.clearance` -- Proof of Clearance: validators recompute (entries include the
  auctioneer and miner rewards and the DSO's grid charges), endorse, compare roots, submit k-of-n, settle or
  claim, dispute a wrong root and resolve the dispute;
* :mod:`transactive.ledger.validator_service` -- ``transactive ledger validator`` (a validator as an HTTP/JSON
  service) and the coordinator that asks validator endpoints over the network;
* :mod:`transactive.ledger.statements` -- off-chain statements settled as balanced token batches
  (``EnergyToken.settle``), their journal and the balance audit;
* :mod:`transactive.ledger.audit` -- the archive layout (``SlotArchive``) and ``transactive ledger verify``
  (embedded chain or ``--chain-url``);
* :mod:`transactive.ledger.settlement_archive` -- archived settlement slots (``settlements/<slot>.json``) and
  their audit, recomputed by a function registered per kind (the market layer's, registered by the CLI);
* :mod:`transactive.ledger.channels` -- what the prosumer and DSO channels may see of a slot.

The formats are specified in ``docs/ledger.md``. Importing it needs the ``ledger`` extra (except
:mod:`~transactive.ledger.channels` and :mod:`~transactive.ledger.constants`, which the service imports).
"""

from __future__ import annotations
