// Keccak-256 (the original Keccak padding 0x01, as Ethereum and transactive.crypto.encoding.keccak256 use; not
// NIST SHA3-256, whose padding is 0x06). A plain implementation of Keccak-f[1600] on 64-bit BigInt lanes: slow
// (a few thousand hashes a second) but a Merkle proof needs a few dozen. Checked against the reference vectors
// (keccak256("") = c5d24601…, keccak256("abc") = 4e03657a…) and against the Python implementation on inputs of
// every length around the 136-byte rate (tests/integration/web/test_webapp_prosumer_browser.py).

const MASK = (1n << 64n) - 1n;
const RATE = 136; // bytes: 1600 - 2 * 256 bits
const ROUND_CONSTANTS = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808An, 0x8000000080008000n,
  0x000000000000808Bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
  0x000000000000008An, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000An,
  0x000000008000808Bn, 0x800000000000008Bn, 0x8000000000008089n, 0x8000000000008003n,
  0x8000000000008002n, 0x8000000000000080n, 0x000000000000800An, 0x800000008000000An,
  0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
];
// rho offsets and pi positions along the lane walk starting at lane 1 (as in the reference "readable" code)
const ROTATIONS = [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44];
const PI_LANES = [10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1];

const rotl = (x, n) => ((x << BigInt(n)) | (x >> BigInt(64 - n))) & MASK;

function keccakF(state) {
  const c = new Array(5);
  for (let round = 0; round < 24; round++) {
    for (let x = 0; x < 5; x++) c[x] = state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20];
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (let y = 0; y < 25; y += 5) state[y + x] ^= d;
    }
    let carried = state[1];
    for (let i = 0; i < 24; i++) {
      const lane = PI_LANES[i];
      const next = state[lane];
      state[lane] = rotl(carried, ROTATIONS[i]);
      carried = next;
    }
    for (let y = 0; y < 25; y += 5) {
      const row = state.slice(y, y + 5);
      for (let x = 0; x < 5; x++) state[y + x] = row[x] ^ ((row[(x + 1) % 5] ^ MASK) & row[(x + 2) % 5]);
    }
    state[0] ^= ROUND_CONSTANTS[round];
  }
}

/** keccak256(bytes: Uint8Array) -> Uint8Array(32). */
export function keccak256(bytes) {
  const blocks = Math.floor(bytes.length / RATE) + 1;
  const padded = new Uint8Array(blocks * RATE);
  padded.set(bytes);
  padded[bytes.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  const state = new Array(25).fill(0n);
  for (let offset = 0; offset < padded.length; offset += RATE) {
    for (let i = 0; i < RATE / 8; i++) {
      let lane = 0n;
      for (let b = 7; b >= 0; b--) lane = (lane << 8n) | BigInt(padded[offset + 8 * i + b]);
      state[i] ^= lane;
    }
    keccakF(state);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 4; i++) {
    let lane = state[i];
    for (let b = 0; b < 8; b++) {
      out[8 * i + b] = Number(lane & 0xffn);
      lane >>= 8n;
    }
  }
  return out;
}

/** "0x…" lower-case hex of bytes. */
export function toHex(bytes) {
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes of a hex string ("0x" optional); throws on odd length or a non-hex digit. */
export function fromHex(text) {
  const digits = String(text).replace(/^0x/i, "");
  if (digits.length % 2 || /[^0-9a-f]/i.test(digits)) throw new Error(`not hex: ${text}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** keccak256 of a UTF-8 string, as hex. */
export function keccakText(text) {
  return toHex(keccak256(new TextEncoder().encode(text)));
}
