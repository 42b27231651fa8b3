// The password in a URL (user:password@, up to the last @ before the path, since parsers take an
// unencoded @ as part of it; or any query parameter whose name, decoded, holds "pass": password,
// sslpassword, pass%77ord…), masked.
// Redis's older form puts the password alone before the @ (redis://PASSWORD@host): masked whole there.
export function maskUrl (url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:?#]*):[^/?#]*@/i, '$1:***@')
    .replace(/^(rediss?:\/\/)[^/@:?#]+@/i, '$1***@')
    .replace(/([?&])([^=&]*)=([^&#]*)/g, (whole, sep: string, name: string) => {
      let decoded = name
      try { decoded = decodeURIComponent(name) } catch {}
      return /pass/i.test(decoded) ? `${sep}${name}=***` : whole
    })
}
