/** The test slapd: a real OpenLDAP with ppolicy on a loopback port (src/demo/slapd.ts, shared with `npm run demo`). */
export * from '../../src/demo/slapd.ts';
