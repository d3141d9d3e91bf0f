"""The consortium ledger: Vyper contracts, chain engines (embedded py-evm, JSON-RPC), signed orders, Merkle
commitments, endorsements and proofs.

On-chain half:

* :mod:`transactive.ledger.chain.base` -- the engine seam (``Chain`` protocol, ABI helpers, ``ChainRevert``);
* :mod:`transactive.ledger.chain.embedded` / :mod:`transactive.ledger.chain.rpc` -- embedded py-evm chain persisted to a
  data directory / any Ethereum JSON-RPC node; :mod:`transactive.ledger.chain.connect` picks one;
* :mod:`transactive.ledger.chain.compiler` -- Vyper contracts in ``contracts/``, compiled and cached by source hash;
* :mod:`transactive.ledger.chain.constants` -- the contracts' role bits, slot states, modes and slot record fields
  (the only Python copy; import-light);
* :mod:`transactive.ledger.chain.deploy` -- deploying the contract suite (tests, benchmarks, the simulated day).

Off-chain half:

* :mod:`transactive.crypto.eip712` -- typed-data hashing (domain, ``Order``, ``Endorsement``);
* :mod:`transactive.crypto.signing` -- keys, recoverable ECDSA signatures, parallel batch verification;
* :mod:`transactive.crypto.merkle` -- OpenZeppelin ``StandardMerkleTree``-compatible trees and proofs;
* :mod:`transactive.ledger.messages.orders` -- :class:`~transactive.orders.Orders` <-> signed order messages,
  order verification with replay protection (nonce store), result leaves;
* :mod:`transactive.ledger.messages.attributes` -- per-participant attributes signed by the trader (feeder bus,
  distance preference, welfare parameters) for grid-aware mechanisms, committed in the order tree;
* :mod:`transactive.ledger.messages.batch` -- a market file as a signed slot batch (simulations, demos, tests);
* :mod:`transactive.ledger.messages.commitments` -- order / result leaves and trees of a slot, the settlement tree;
* :mod:`transactive.ledger.clearance.endorsement` -- validators' k-of-n endorsements of a slot's roots;
* :mod:`transactive.ledger.messages.nonces` -- replay protection (nonce store interface, in-memory store);
* :mod:`transactive.ledger.audit.proofs` -- the slot batch file and the JSON inclusion-proof format;
* :mod:`transactive.cli._ledger_proof` -- ``transactive ledger proof`` (make / verify proofs);
* :mod:`transactive.ledger.clearance.protocol` -- Proof of Clearance: validators recompute (entries include the
  auctioneer and miner rewards and the DSO's grid charges), endorse, compare roots, submit k-of-n, settle or
  claim, dispute a wrong root and resolve the dispute;
* :mod:`transactive.ledger.clearance.validator_service` -- ``transactive ledger validator`` (a validator as an HTTP/JSON
  service) and the coordinator that asks validator endpoints over the network;
* :mod:`transactive.ledger.audit.statements` -- off-chain statements settled as balanced token batches
  (``EnergyToken.settle``), their journal and the balance audit;
* :mod:`transactive.ledger.audit.audit` -- ``transactive ledger verify`` (embedded chain or ``--chain-url``);
* :mod:`transactive.ledger.audit.slot_archive` -- the archive layout (``SlotArchive``) and opening its chain;
* :mod:`transactive.ledger.audit.archive` -- archived settlement slots (``settlements/<slot>.json``) and
  their audit, recomputed by a function registered per kind (the market layer's, registered by the CLI);
* :mod:`transactive.ledger.audit.channels` -- what the prosumer and DSO channels may see of a slot.

The formats are specified in ``docs/ledger.md``. Importing it needs the ``ledger`` extra (except
:mod:`~transactive.ledger.audit.channels` and :mod:`~transactive.ledger.chain.constants`, which the service imports).
"""

from __future__ import annotations
