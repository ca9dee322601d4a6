/**
 * A small but real Embedder for tests: signed feature hashing of words, word pairs and character
 * trigrams into a fixed number of dimensions (the "hashing trick"). Deterministic, no network; it
 * stands in for an OpenAI-compatible embeddings endpoint behind the same port.
 */
import type { Embedder } from '../../../src/ports.js';

function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface HashingEmbedder extends Embedder {
  /** Texts embedded so far (to check the router really goes through the port). */
  readonly textsEmbedded: number;
  /** Signals seen by `embed`, to check cancellation reaches the port. */
  readonly signals: (AbortSignal | undefined)[];
}

export function createHashingEmbedder(dimensions = 384, id = `hashing-${dimensions}`): HashingEmbedder {
  let textsEmbedded = 0;
  const signals: (AbortSignal | undefined)[] = [];
  const embedOne = (text: string): Float32Array => {
    const v = new Float32Array(dimensions);
    const words = text.toLowerCase().replace(/[^a-z0-9 ]+/g, ' ').split(/\s+/).filter(Boolean);
    const add = (feature: string, weight: number): void => {
      const h = fnv1a(feature, 17);
      v[h % dimensions]! += (h & 0x80000000 ? -1 : 1) * weight;
    };
    words.forEach((w, i) => {
      add(`w:${w}`, 1);
      if (i > 0) add(`b:${words[i - 1]} ${w}`, 0.7);
      const padded = ` ${w} `;
      for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.35);
    });
    return v;
  };
  return {
    id,
    dimensions,
    get textsEmbedded() {
      return textsEmbedded;
    },
    signals,
    async embed(texts, signal) {
      signals.push(signal);
      signal?.throwIfAborted();
      // A real endpoint answers asynchronously; so does this one.
      await new Promise((resolve) => setImmediate(resolve));
      textsEmbedded += texts.length;
      return texts.map(embedOne);
    },
  };
}
