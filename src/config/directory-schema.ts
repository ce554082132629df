/**
 * The on-premises LDAP directory (OpenLDAP): where directory users, their groups and their
 * passwords live. Part of the single configuration schema (see schema.ts). Leave the section out
 * for no directory. Active Directory is not supported (see the README).
 */
import { z } from 'zod';
import { FilterParser } from 'ldapts';
import { restartOnly } from './restart.ts';
import { int, section } from './builders.ts';

const filter = (def: string, doc: string) =>
  z
    .string()
    .max(2000)
    .refine((value) => {
      try {
        FilterParser.parseString(value);
        return /^\(.*\)$/s.test(value.trim());
      } catch {
        return false;
      }
    }, 'must be an LDAP filter in parentheses (RFC 4515), e.g. (objectClass=inetOrgPerson)')
    .default(def)
    .describe(doc);

const attribute = (def: string, doc: string) =>
  z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an LDAP attribute name (letters, digits, -)')
    .default(def)
    .describe(doc);

const optionalAttribute = (doc: string) =>
  z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an LDAP attribute name (letters, digits, -)')
    .optional()
    .describe(doc);

const dn = z
  .string()
  .trim()
  .min(3, 'must be a distinguished name, e.g. ou=people,dc=example,dc=org')
  .max(1000)
  .regex(/^[A-Za-z][A-Za-z0-9.-]*=[^,]+(,\s*[A-Za-z][A-Za-z0-9.-]*=[^,]+)*$/s, 'must be a distinguished name, e.g. ou=people,dc=example,dc=org');

const tls = section('TLS for ldaps:// URLs', {
  caFile: z.string().min(1).max(1000).optional().describe('PEM file with the CA certificate(s) to trust for ldaps://, relative to the working directory. Checked at start.'),
  rejectUnauthorized: z.boolean().default(true).describe('Refuse a server certificate that does not verify (turn off only to test).'),
});

const attributes = section('Which directory attribute holds what', {
  username: attribute('uid', 'Attribute holding the user name people sign in with.'),
  displayName: attribute('cn', 'Display name.'),
  mail: attribute('mail', 'Directory email address (notifications go to it).'),
  mobile: attribute('mobile', 'Mobile number: pre-populates the authentication phone, marked as set by the directory.'),
  officePhone: attribute('telephoneNumber', 'Office number: pre-populates the office phone, marked as set by the directory.'),
  groupName: attribute('cn', 'Attribute of a group entry holding its name (the name sspr.groups and sspr.administrators.groups use).'),
  groupMember: attribute('member', 'Attribute of a group entry listing the DNs of its members.'),
  memberOf: optionalAttribute('Instead of groupMember: attribute of a user entry listing the DNs of its groups (the memberof overlay).'),
});

const timeouts = section('Directory timeouts', {
  connectSeconds: int(5, 1, 60, 'Longest wait for a connection to the directory.'),
  operationSeconds: int(10, 1, 300, 'Longest wait for one directory operation (a bind, a page of a search, a password change).'),
});

export const directorySchema = restartOnly(
  z
    .strictObject({
      url: z
        .string()
        .regex(/^ldaps?:\/\/[^/\s?#]+\/?$/, 'must be ldap://host[:port] or ldaps://host[:port]')
        .describe('The directory server: ldap://host[:port] or ldaps://host[:port].'),
      tls,
      bindDn: dn.describe('DN of the service account the IdP binds as to read the directory and write passwords back.'),
      bindPassword: z.string().min(1).max(1000).describe('Password of the service account; use ${ENV_VAR}.'),
      baseDn: dn.describe('Where users are searched (the whole subtree).'),
      userFilter: filter('(objectClass=inetOrgPerson)', 'Which entries under baseDn are users.'),
      groupBaseDn: dn.optional().describe('Where groups are searched; baseDn when left out.'),
      groupFilter: filter('(objectClass=groupOfNames)', 'Which entries under groupBaseDn are groups.'),
      attributes,
      mode: z
        .enum(['readOnly', 'writable'])
        .default('readOnly')
        .describe('readOnly: passwords are only checked against the directory; writable: resets and unlocks are written back (with sspr.onPremises.passwordWriteback).'),
      syncIntervalMinutes: int(15, 0, 1440, 'How often users and groups are synchronised from the directory (also at start); 0 = only at start and by `oidc-sspr directory sync`.'),
      pageSize: int(500, 10, 5000, 'Entries per page of a paged search (bounds the memory a sync needs).'),
      timeouts,
    })
    .optional()
    .describe('On-premises LDAP directory (OpenLDAP): users, groups, sign-in, writeback'),
);

export type DirectoryConfig = NonNullable<z.infer<typeof directorySchema>>;
