/** Renders a recovery method's page (MethodPage) wherever methods are managed. */
import type { Context } from 'koa';
import type { MethodPage } from '../methods/types.ts';
import type { Renderer, PageOptions } from './render.ts';

export interface MethodPageLinks {
  /** URL a step of this method posts to. */
  action(step: string): string;
  /** Where "back to your methods" goes. */
  backUrl: string;
  csrf: string;
}

export function renderMethodPage(render: Renderer, ctx: Context, methodId: string, page: MethodPage, links: MethodPageLinks, options: PageOptions = {}): Promise<void> {
  return render(
    ctx,
    page.view,
    { title: `method.${methodId}.name`, ...page.locals, error: page.error, errorVars: page.errorVars ?? {}, ...links },
    { ...options, status: page.status ?? (page.error ? 400 : 200) },
  );
}
