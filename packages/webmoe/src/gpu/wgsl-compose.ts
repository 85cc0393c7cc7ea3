// WGSL has no imports: a kernel's shader module is its main source with the library pieces it calls
// pasted in (shaders/lib/*.wgsl: the weight formats' dequantization, workgroup reductions, the matrix
// products' loops). composeWgsl does the pasting, once per distinct combination, and names the result so
// that the pipeline cache keys it (docs/kernels.md#composed-shader-sources).

/** A named WGSL source and the pieces it calls into. */
export interface WgslPiece {
  /** Short and unique among pieces; part of the id of every source composed with it passed explicitly. */
  readonly name: string;
  readonly code: string;
  /** Pieces this one always needs; composed before it. */
  readonly needs: readonly WgslPiece[];
}

/** A complete WGSL module and the id that tells it apart from every other source the program composes. */
export interface ShaderSource {
  /** `main` or `main+piece+…` (the pieces passed to composeWgsl; a main's own needs are fixed by its name). */
  readonly id: string;
  readonly code: string;
}

export function wgslPiece(name: string, code: string, needs: readonly WgslPiece[] = []): WgslPiece {
  return { name, code, needs };
}

// Directives must precede every declaration of a module; pieces may each declare some.
const DIRECTIVE = /^(enable|requires)\s+([^;]+);[ \t]*$/gm;
// Module-scope declarations start in column 0 (after any attributes).
const DECLARATION = /^(?:@[\w]+(?:\([^)]*\))?\s+)*(?:fn|struct|alias|const|override|var(?:<[^>]*>)?)\s+([A-Za-z_]\w*)/gm;

/** The pieces in dependency order (each after what it needs), each once; refuses two pieces of one name. */
function ordered(roots: readonly WgslPiece[]): WgslPiece[] {
  const out: WgslPiece[] = [];
  const seen = new Map<string, WgslPiece>();
  const visit = (piece: WgslPiece, path: readonly string[]) => {
    const known = seen.get(piece.name);
    if (known) {
      if (known !== piece) throw new Error(`composeWgsl: two different pieces are named ${piece.name}`);
      return;
    }
    if (path.includes(piece.name)) throw new Error(`composeWgsl: ${[...path, piece.name].join(' → ')} is a cycle`);
    for (const n of piece.needs) visit(n, [...path, piece.name]);
    seen.set(piece.name, piece);
    out.push(piece);
  };
  for (const r of roots) visit(r, []);
  return out;
}

/**
 * One module from `main` and `pieces` (plus everything they need): the directives of all of them merged
 * at the top, then the pieces in dependency order, then the main source. Throws when two of them declare
 * the same module-scope name, naming both.
 */
export function composeWgsl(main: WgslPiece, pieces: readonly WgslPiece[] = []): ShaderSource {
  const all = ordered([...pieces, main]);
  const directives = new Map<string, Set<string>>();
  const declaredBy = new Map<string, string>();
  const bodies: string[] = [];
  for (const piece of all) {
    for (const m of piece.code.matchAll(DIRECTIVE)) {
      const set = directives.get(m[1]) ?? new Set<string>();
      for (const f of m[2].split(',')) if (f.trim()) set.add(f.trim());
      directives.set(m[1], set);
    }
    const body = piece.code.replace(DIRECTIVE, '');
    for (const m of body.matchAll(DECLARATION)) {
      const other = declaredBy.get(m[1]);
      if (other !== undefined) throw new Error(`composeWgsl: ${m[1]} is declared by both ${other} and ${piece.name}`);
      declaredBy.set(m[1], piece.name);
    }
    bodies.push(`// ---- ${piece.name} ----\n${body.trim()}\n`);
  }
  const head = [...directives].map(([kind, set]) => `${kind} ${[...set].join(', ')};\n`).join('');
  return {
    id: [main.name, ...pieces.map((p) => p.name)].join('+'),
    code: `${head}${head ? '\n' : ''}${bodies.join('\n')}`,
  };
}
