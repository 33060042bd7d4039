import { describe, expect, it } from 'vitest';
import { escapeHtml, oneLine, safeHref, truncate } from '../../lib/report/escape.js';
import { renderReport } from '../../lib/report/index.js';
import { HOSTILE, hostileModel } from './fixtures.js';

/** Tags and attributes the renderer itself writes; anything else came from data. */
const TAGS = new Set(['!doctype', 'html', 'head', 'meta', 'title', 'body', 'div', 'table', 'tr', 'td', 'th', 'span', 'b', 'code', 'pre', 'a']);
const ATTRIBUTES = new Set([
  'lang', 'charset', 'name', 'content', 'role', 'cellpadding', 'cellspacing', 'border', 'width', 'height', 'bgcolor', 'style',
  'align', 'valign', 'id', 'title', 'href', 'nowrap', 'class', 'aria-hidden', 'colspan',
]);
/** The Outlook-only conditional block is the renderer's own, constant text. */
const withoutMso = (html: string) => html.replace(/<!--\[if mso\]>[\s\S]*?<!\[endif\]-->/g, '');

function tagsOf(html: string): Array<{ tag: string; attrs: Array<{ name: string; value: string }> }> {
  const out: Array<{ tag: string; attrs: Array<{ name: string; value: string }> }> = [];
  for (const m of withoutMso(html).matchAll(/<([!a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)) {
    const attrs = [...m[2]!.matchAll(/\s([^\s="'>/]+)(?:="([^"]*)")?/g)].map((a) => ({ name: a[1]!.toLowerCase(), value: a[2] ?? '' }));
    out.push({ tag: m[1]!.toLowerCase(), attrs });
  }
  return out;
}

describe('escapeHtml', () => {
  const cases: Array<[string, string]> = [
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['"><img src=x onerror=alert(1)>', '&quot;&gt;&lt;img src&#61;x onerror&#61;alert(1)&gt;'],
    ["it's `x`", 'it&#39;s &#96;x&#96;'],
    ['&amp; already escaped', '&amp;amp; already escaped'],
    ["WHERE name = 'x' OR 1=1; --", 'WHERE name &#61; &#39;x&#39; OR 1&#61;1; --'],
    ['plain text · ünïcode ✓', 'plain text · ünïcode ✓'],
  ];
  it.each(cases)('escapes %j', (input, expected) => expect(escapeHtml(input)).toBe(expected));
});

describe('safeHref', () => {
  const cases: Array<[string, string | undefined]> = [
    ['https://grafana.example.com/d/ops', 'https://grafana.example.com/d/ops'],
    ['http://intranet.example/x?a=1&b=2', 'http://intranet.example/x?a&#61;1&amp;b&#61;2'],
    ['mailto:oncall@example.com', 'mailto:oncall@example.com'],
    ['javascript:alert(1)', undefined],
    ['JaVaScRiPt:alert(1)', undefined],
    [' javascript:alert(1)', undefined],
    ['java\u0000script:alert(1)', undefined],
    ['data:text/html,<script>alert(1)</script>', undefined],
    ['vbscript:msgbox', undefined],
    ['//evil.example/x', undefined],
    ['/relative/path', undefined],
    ['https://ok.example/" onmouseover="alert(1)', undefined],
    ['https://ok.example/<script>', undefined],
    ['', undefined],
  ];
  it.each(cases)('%j → %j', (input, expected) => expect(safeHref(input)).toBe(expected));
});

describe('truncate and oneLine', () => {
  it('keeps short strings as they are', () => expect(truncate('short', 10)).toBe('short'));
  it('cuts long strings to max code points, ending with …', () => expect(truncate('abcdefghij', 5)).toBe('abcd…'));
  it('never splits a surrogate pair', () => {
    const out = truncate('😀'.repeat(10), 4);
    expect(out).toBe('😀😀😀…');
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
  it('costs the same on a huge string', () => expect(truncate('x'.repeat(5_000_000), 10)).toBe(`${'x'.repeat(9)}…`));
  it('strips control, zero-width and bidi characters and collapses whitespace', () => {
    expect(oneLine('a\r\n\tb\u0000c\u200Bd\u202Ee  f\u2028g')).toBe('a bcde f g');
  });
});

describe('hostile data in every field', () => {
  const { html, text, subject } = renderReport(hostileModel());

  it('never appears unescaped in the HTML', () => {
    for (const s of HOSTILE) expect(html).not.toContain(s);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/onerror=/i);
    expect(html).not.toMatch(/onload=/i);
    expect(html).not.toMatch(/<(img|svg|iframe|object|embed|link|form|input|base)\b/i);
    expect(withoutMso(html)).not.toMatch(/<style/i);
  });

  it('creates no element or attribute the renderer does not write itself', () => {
    const tags = tagsOf(html);
    expect(tags.length).toBeGreaterThan(100);
    for (const { tag, attrs } of tags) {
      expect(TAGS, `tag <${tag}>`).toContain(tag);
      for (const a of tag === '!doctype' ? [] : attrs) {
        expect(ATTRIBUTES, `attribute ${a.name} on <${tag}>`).toContain(a.name);
        expect(a.name).not.toMatch(/^on/);
      }
    }
  });

  it('puts no data in a style or a link that could fetch or run anything', () => {
    for (const { attrs } of tagsOf(html)) {
      for (const a of attrs) {
        if (a.name === 'style') expect(a.value).not.toMatch(/url\(|expression\(|@import|javascript:/i);
        if (a.name === 'href') expect(a.value).toMatch(/^(https?:\/\/|mailto:)/);
      }
    }
    expect(html).not.toMatch(/href="\s*javascript:/i);
    expect(html).not.toMatch(/\ssrc=/i);
  });

  it('keeps the text part readable: hostile strings shown as written, without control characters', () => {
    expect(text).toContain('<script>alert(1)</script>');
    expect(text).toContain("'; DROP TABLE users; -- \" OR 1=1");
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e\r]/);
    expect(text).toContain('line Bcc: victim@example.com');
  });

  it('keeps the subject one clean line', () => {
    expect(subject).not.toMatch(/[\r\n\u0000-\u001f\u202e]/);
    expect(Array.from(subject).length).toBeLessThan(120);
  });
});
