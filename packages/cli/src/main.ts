// webmoe's command line: `pnpm webmoe <command> [args]`. Each command is a module loaded on demand; a
// command throws on failure and this dispatcher prints the message as one line (no stack trace unless
// WEBMOE_DEBUG is set) and exits non-zero. To add a command, add one entry to COMMANDS.

interface Command {
  summary: string;
  run(args: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  convert: {
    summary: 'convert a Hugging Face checkpoint folder into a webmoe model folder',
    run: async (args) => (await import('@webmoe/converter/cli')).convert(args),
  },
  run: {
    summary: 'run a model in headless Chromium on WebGPU: greedy or sampled tokens, timings, logits',
    run: async (args) => (await import('./run')).runCommand(args),
  },
  bench: {
    summary: 'benchmark generated models in headless Chromium on WebGPU: prefill, decode, probes, MoE scaling',
    run: async (args) => (await import('./bench')).benchCommand(args),
  },
  eval: {
    summary: 'perplexity of a model over a text and KL divergence of each weight format against f32',
    run: async (args) => (await import('./eval')).evalCommand(args),
  },
  serve: {
    summary: 'serve a model on Dawn (Node WebGPU) behind an OpenAI-compatible HTTP endpoint',
    run: async (args) => (await import('./serve')).serveCommand(args),
  },
  kernels: {
    summary: 'the GPU kernel grids in Node on Dawn, every case against its CPU reference, on the adapter Vulkan offers',
    run: async (args) => (await import('./kernels')).kernelsCommand(args),
  },
  generate: {
    summary: 'write a seeded random checkpoint in the Hugging Face layout',
    run: async (args) => (await import('@webmoe/converter/cli')).generate(args),
  },
};

function listing(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`usage: webmoe <command> [args]   (webmoe <command> --help for its options)\n\ncommands:\n${listing()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`webmoe: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  try {
    await command.run(args);
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`webmoe ${name}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (process.env.WEBMOE_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

export {};
