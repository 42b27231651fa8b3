// Requests Fastify's router refused before any route or hook could run (a URL whose %-encoding is
// malformed: FST_ERR_BAD_URL), with the code it refused them with. src/app.ts routes each again, under
// ROUTER_REFUSED_PATH, to the not-found handler of plugins/error-handling.ts, which answers it in the service's shape:
// through every hook (security headers, CORS), with an access line and a metric, like any other request.
export const routerRefusals = new WeakMap<object, string>()

// A path no route has, which the router decodes without complaint. No client can send it (the request
// line of HTTP has no spaces); one that did through inject would get the 404 of any unknown route.
export const ROUTER_REFUSED_PATH = '/ refused by the router'
