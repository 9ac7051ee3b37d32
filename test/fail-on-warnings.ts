// An unexpected Node warning (deprecation, unhandled listener leak, …) fails the run.
process.on('warning', (warning) => {
  throw warning;
});
