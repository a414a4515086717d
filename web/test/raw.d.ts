// Vite's `?raw` imports (vitest runs on Vite): a file's text as a string.
declare module "*?raw" {
  const text: string;
  export default text;
}
