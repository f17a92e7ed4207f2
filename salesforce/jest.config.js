// Jest for socialdesk's Lightning web components (npm @salesforce/sfdx-lwc-jest): LWC's own
// compiler and the stubs of lightning/* and @salesforce/* modules, run offline in jsdom.
// Run from this folder (sfdx-lwc-jest finds the components through sfdx-project.json);
// tests/system/test_lwc.py runs it with the npm packages in a cache folder (NODE_PATH).
const { jestConfig } = require('@salesforce/sfdx-lwc-jest/config');

module.exports = {
    ...jestConfig,
    roots: ['<rootDir>/force-app'],
    testMatch: ['**/lwc/**/__tests__/**/*.test.js'],
    modulePathIgnorePatterns: ['<rootDir>/.sfdx/', '<rootDir>/.localdevserver/']
};
