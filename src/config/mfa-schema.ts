/** The `mfa:` section: who must prove a second factor at sign-in, and with which methods. */
import { z } from 'zod';
import { methodList } from '../methods/ids.ts';
import { int } from './builders.ts';

/** The registered methods that can be a second factor (security questions never are). */
export const secondFactorIds = methodList.filter((m) => 'secondFactor' in m).map((m) => m.id) as [string, ...string[]];

export const mfaSchema = z
  .strictObject({
    require: z
      .enum(['never', 'selected', 'all'])
      .default('never')
      .describe(
        'Who must prove a second factor after the password: nobody (a relying party can still ask with acr_values), members of `groups` and of `sspr.administrators.groups`, or everyone.',
      ),
    groups: z.array(z.string().min(1).max(256)).default([]).describe('With require: selected, members of these groups (case-insensitive); administrators always.'),
    methods: z
      .array(z.enum(secondFactorIds))
      .min(1)
      .default([...secondFactorIds])
      .describe(`Registered methods that count as a second factor, of ${secondFactorIds.join(', ')}. Security questions never do.`),
    rememberDeviceDays: int(0, 0, 365, 'After a second factor, offer to remember the device for this many days (0 = never offer): a random token in a signed cookie, kept as a revocable record in the database. A remembered device skips the second factor the policy requires, not one a relying party asks for with acr_values. A reset, a new password from an administrator and disabling the account forget every device.'),
  })
  .prefault({})
  .superRefine((m, ctx) => {
    if (m.require === 'selected' && m.groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'must name at least one group when require is selected' });
    }
    const seen = new Set<string>();
    m.methods.forEach((id, i) => {
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['methods', i], message: `names ${id} twice` });
      seen.add(id);
    });
  })
  .describe('Multi-factor sign-in');
