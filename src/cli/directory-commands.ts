/** `oidc-sspr directory sync [--dry-run]`: synchronise users and groups from the directory now. */
import type { Command, withUsers as WithUsers } from './context.ts';
import { UsageError } from './errors.ts';
import { systemClock } from '../clock.ts';

export function directoryCommands(deps: { withUsers: typeof WithUsers }): Command[] {
  return [
    {
      name: 'directory sync',
      args: [],
      options: ['dry-run', 'json'],
      synopsis: '[--dry-run] [--json]',
      summary: 'synchronise users and groups from the directory now; --dry-run prints what it would create, update and disable',
      async run(ctx) {
        const [{ createDirectoryClient }, { DirectorySync }, { createLogger }] = await Promise.all([import('../directory/index.ts'), import('../directory/sync.ts'), import('../logging.ts')]);
        const report = await deps.withUsers(ctx, async (users, store, config) => {
          if (!config.directory) throw new UsageError('the configuration has no directory: section');
          const client = await createDirectoryClient(config.directory);
          const sync = new DirectorySync({ client, store, users, clock: systemClock, log: createLogger('silent'), defaultCountry: () => config.sspr.defaultCountry });
          return sync.run({ dryRun: ctx.values['dry-run'] === true });
        });
        if (ctx.values.json) return ctx.out(JSON.stringify(report, null, 2));
        const would = report.dryRun ? 'would ' : '';
        for (const c of report.created) ctx.out(`${would}create ${c.username}`);
        for (const c of report.updated) ctx.out(`${would}update ${c.username}: ${c.changes.join(', ')}`);
        for (const name of report.disabled) ctx.out(`${would}disable ${name} (gone from the directory)`);
        for (const s of report.skipped) ctx.out(`skipped ${s.dn}: ${s.reason}`);
        if (report.emptyDirectory) ctx.out('the directory returned no users under directory.baseDn: nobody was disabled');
        if (report.noGroups) ctx.out('the directory returned no groups (directory.groupFilter under groupBaseDn): no membership was changed');
        const [c, u, d] = report.dryRun ? ['to create', 'to update', 'to disable'] : ['created', 'updated', 'disabled'];
        ctx.out(`${report.dryRun ? 'dry run, nothing changed: ' : ''}${report.created.length} ${c}, ${report.updated.length} ${u}, ${report.disabled.length} ${d}, ${report.unchanged} unchanged, ${report.skipped.length} skipped, ${report.groups} groups`);
      },
    },
  ];
}
