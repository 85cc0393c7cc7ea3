// The feed-forward half of a decoder layer: a dense SwiGLU MLP, or a mixture of routed SwiGLU experts
// plus always-on shared experts.
import type { ReferenceArgs } from './args';
import { addScaled, matvec, silu } from './math';
import { route, type RoutingDecision } from './routing';
import { take, type WeightSource } from './weights';

// ----------------------------------------------------------------------------
// SwiGLU: down(silu(gate(x)) × up(x))

export class SwiGlu {
  private readonly gate: Float64Array;
  private readonly up: Float64Array;
  private readonly down: Float64Array;

  constructor(source: WeightSource, prefix: string, private readonly dim: number, private readonly inter: number) {
    this.gate = take(source, `${prefix}.gate_proj.weight`, [inter, dim]);
    this.up = take(source, `${prefix}.up_proj.weight`, [inter, dim]);
    this.down = take(source, `${prefix}.down_proj.weight`, [dim, inter]);
  }

  forward(x: Float64Array): Float64Array {
    const g = matvec(this.gate, this.inter, this.dim, x);
    const u = matvec(this.up, this.inter, this.dim, x);
    for (let i = 0; i < this.inter; i++) g[i] = silu(g[i]) * u[i];
    return matvec(this.down, this.dim, this.inter, g);
  }
}

// ----------------------------------------------------------------------------
// mixture of experts: y = Σ_k w_k × expert_k(x) + shared(x)

export class Moe {
  private readonly router: Float64Array;
  private readonly bias: Float64Array | null;
  private readonly experts: SwiGlu[] = [];
  private readonly shared: SwiGlu | null;
  /** The routing of each token of the last forward call. */
  lastRouting: RoutingDecision[] = [];

  constructor(private readonly args: ReferenceArgs, source: WeightSource, prefix: string) {
    const { dim: d, nRoutedExperts: E, moeInterDim, nSharedExperts } = args;
    this.router = take(source, `${prefix}.gate.weight`, [E, d]);
    this.bias = args.topkMethod === 'noaux_tc' ? take(source, `${prefix}.gate.e_score_correction_bias`, [E]) : null;
    for (let e = 0; e < E; e++) this.experts.push(new SwiGlu(source, `${prefix}.experts.${e}`, d, moeInterDim));
    this.shared = nSharedExperts > 0 ? new SwiGlu(source, `${prefix}.shared_experts`, d, moeInterDim * nSharedExperts) : null;
  }

  forward(xs: Float64Array[]): Float64Array[] {
    this.lastRouting = [];
    return xs.map((x) => {
      const decision = route(matvec(this.router, this.args.nRoutedExperts, this.args.dim, x), this.bias, this.args);
      this.lastRouting.push(decision);
      const y = this.shared ? this.shared.forward(x) : new Float64Array(this.args.dim);
      decision.experts.forEach((e, k) => addScaled(y, this.experts[e].forward(x), decision.weights[k]));
      return y;
    });
  }
}
