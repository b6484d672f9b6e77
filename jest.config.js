/** Jest runs the compiled tests (npm test builds first), so child processes and tests use the same JS. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  testTimeout: 60000,
  maxWorkers: 2,
  verbose: false,
};
