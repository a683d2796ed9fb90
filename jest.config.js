// ESM throughout (execa is ESM-only), so jest runs with --experimental-vm-modules (see package.json).
const tsJest = {
  '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: tsJest,
  testEnvironment: 'node',
  // jest 30's global-property protection overflowed the stack tearing down a runsc suite.
  testEnvironmentOptions: { globalsCleanup: 'off' },
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    // Workflow logic against a dev server with stub activities: no root, zfs or runsc.
    {
      ...common,
      displayName: 'workflow',
      testMatch: ['<rootDir>/test/workflow/**/*.test.ts'],
      globalSetup: '<rootDir>/test/workflow/harness/global-setup.mjs',
      globalTeardown: '<rootDir>/test/workflow/harness/global-teardown.mjs',
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/{integration,e2e,fault,replay,chaos}/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.mjs',
      globalTeardown: '<rootDir>/test/harness/global-teardown.mjs',
      slowTestThreshold: 30,
    },
  ],
  testTimeout: 120_000,
};
