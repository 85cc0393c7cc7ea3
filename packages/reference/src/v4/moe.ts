// V4's mixture of experts (docs/architecture-v4.md#moe): router scores sqrt(softplus(logit)); experts chosen
// by a stored token → experts table on the first num_hash_layers layers, elsewhere by the top k of score +
// bias (the bias only selects); weights are the chosen scores renormalized and scaled; every expert and the
// one shared expert is a SwiGLU whose gate is clamped from above and whose up projection is clamped both ways.
import { WebmoeError } from 'webmoe/model';
import { addScaled, matvec, sigmoid, silu, softmaxInPlace, topIndices } from '../math';
import type { RoutingDecision } from '../routing';
import { missingTensor, take, type WeightSource } from '../weights';
import type { V4Args } from './args';

/** down(w · silu(min(gate(x), L)) ⊙ clamp(up(x), −L, L)); L = 0 means no clamp. */
export class ClampedSwiGlu {
  private readonly gate: Float64Array;
  private readonly up: Float64Array;
  private readonly down: Float64Array;

  constructor(source: WeightSource, prefix: string, private readonly dim: number, private readonly inter: number, private readonly limit: number) {
    this.gate = take(source, `${prefix}.w1.weight`, [inter, dim]);
    this.up = take(source, `${prefix}.w3.weight`, [inter, dim]);
    this.down = take(source, `${prefix}.w2.weight`, [dim, inter]);
  }

  forward(x: Float64Array, weight = 1): Float64Array {
    const g = matvec(this.gate, this.inter, this.dim, x);
    const u = matvec(this.up, this.inter, this.dim, x);
    const L = this.limit;
    for (let i = 0; i < this.inter; i++) {
      const gi = L > 0 ? Math.min(g[i], L) : g[i];
      const ui = L > 0 ? Math.min(Math.max(u[i], -L), L) : u[i];
      g[i] = weight * silu(gi) * ui;
    }
    return matvec(this.down, this.dim, this.inter, g);
  }
}

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export class V4Moe {
  private readonly router: Float64Array;
  /** Hash layers: row t lists token t's k experts. */
  private readonly table: Float64Array | null = null;
  private readonly bias: Float64Array | null = null;
  private readonly experts: ClampedSwiGlu[] = [];
  private readonly shared: ClampedSwiGlu;
  /** The routing of the last token fed. */
  lastRouting: RoutingDecision = { experts: [], weights: [] };

  constructor(private readonly args: V4Args, source: WeightSource, prefix: string, hashRouted: boolean) {
    const { dim: d, nRoutedExperts: E, nActivatedExperts: k, vocabSize: V, moeInterDim: I, swigluLimit: L } = args;
    this.router = take(source, `${prefix}.gate.weight`, [E, d]);
    if (hashRouted) {
      const name = `${prefix}.gate.tid2eid`;
      if (!source.has(name)) throw missingTensor(name, ` (layers below num_hash_layers = ${args.nHashLayers} route by this token → experts table)`);
      this.table = take(source, name, [V, k]);
      this.table.forEach((e, i) => {
        if (!Number.isInteger(e) || e < 0 || e >= E) {
          throw new WebmoeError('model-format', `tensor ${name}: entry [${Math.floor(i / k)}, ${i % k}] is ${e}, not an expert id in [0, ${E})`, { detail: { tensor: name } });
        }
      });
    } else {
      this.bias = take(source, `${prefix}.gate.bias`, [E]);
    }
    for (let e = 0; e < E; e++) this.experts.push(new ClampedSwiGlu(source, `${prefix}.experts.${e}`, d, I, L));
    this.shared = new ClampedSwiGlu(source, `${prefix}.shared_experts`, d, I, L);
  }

  /** Scores, selection and weights for one token (x: the ffn_norm-ed input). */
  route(x: Float64Array, token: number): RoutingDecision {
    const { nRoutedExperts: E, nActivatedExperts: k, scoreFunc, routeScale } = this.args;
    const logits = matvec(this.router, E, this.args.dim, x);
    const scores = new Float64Array(E);
    if (scoreFunc === 'softmax') {
      scores.set(logits);
      softmaxInPlace(scores);
    } else {
      for (let e = 0; e < E; e++) scores[e] = scoreFunc === 'sigmoid' ? sigmoid(logits[e]) : Math.sqrt(softplus(logits[e]));
    }
    let experts: number[];
    if (this.table) {
      experts = Array.from(this.table.subarray(token * k, (token + 1) * k));
    } else {
      const select = new Float64Array(E);
      for (let e = 0; e < E; e++) select[e] = scores[e] + this.bias![e];
      experts = topIndices(select, k);
    }
    let weights = experts.map((e) => scores[e]);
    if (scoreFunc !== 'softmax') {
      const sum = weights.reduce((a, b) => a + b, 0);
      weights = weights.map((w) => w / sum);
    }
    return { experts, weights: weights.map((w) => w * routeScale) };
  }

  forward(x: Float64Array, token: number): Float64Array {
    const decision = this.route(x, token);
    this.lastRouting = decision;
    const y = this.shared.forward(x);
    decision.experts.forEach((e, i) => addScaled(y, this.experts[e].forward(x, decision.weights[i])));
    return y;
  }
}
