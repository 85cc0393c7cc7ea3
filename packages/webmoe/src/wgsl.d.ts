// WGSL sources are imported as text (Vite's ?raw); the library build inlines them.
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
