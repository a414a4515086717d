/** Stylesheets imported for their side effect; esbuild emits them as dist/quire.css. */
declare module "*.css";
