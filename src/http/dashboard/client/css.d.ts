// esbuild bundles CSS files as text (loader '.css': 'text'): the dashboard puts uPlot's stylesheet in a <style>.
declare module '*.css' {
  const text: string;
  export default text;
}
