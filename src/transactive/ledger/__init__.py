"""The consortium ledger's off-chain half: EIP-712 signed orders, Merkle commitments and proofs.

* :mod:`transactive.ledger.eip712` -- typed-data hashing (domain, ``Order``, ``Endorsement``);
* :mod:`transactive.ledger.signing` -- keys, recoverable ECDSA signatures, parallel batch verification;
* :mod:`transactive.ledger.merkle` -- OpenZeppelin ``StandardMerkleTree``-compatible trees and proofs;
* :mod:`transactive.ledger.orders_codec` -- :class:`~transactive.orders.Orders` <-> signed order messages,
  order verification with replay protection (nonce store), result leaves;
* :mod:`transactive.ledger.commitments` -- order / result leaves and trees of a slot;
* :mod:`transactive.ledger.endorsement` -- validators' k-of-n endorsements of a slot's roots;
* :mod:`transactive.ledger.nonces` -- replay protection (nonce store interface, in-memory store);
* :mod:`transactive.ledger.proofs` -- the slot batch file and the JSON inclusion-proof format;
* :mod:`transactive.ledger.proof_cli` -- ``transactive ledger proof`` (make / verify proofs).

The formats are specified in ``docs/ledger.md``. Importing this package needs the ``ledger`` extra
(``eth-abi``, ``coincurve``, ``pycryptodome``; ``eth-account`` only for the cross-check tests).
"""

from __future__ import annotations
