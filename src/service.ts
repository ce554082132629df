/**
 * The base of a service class: it keeps the dependencies it was built with, as given, so a class
 * lists them once (in its `extends Service<{ … }>`) and reads them as `this.deps.x`.
 */
export abstract class Service<Deps> {
  protected readonly deps: Deps;

  constructor(deps: Deps) {
    this.deps = deps;
  }
}
