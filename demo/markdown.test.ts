import { describe, expect, it } from 'vitest';
import { createRng } from 'webmoe';
import { escapeHtml, renderMarkdown } from './markdown';

/** Every tag the renderer may write, with the only attributes it may write. */
const ALLOWED_TAG = /^<\/?(p|br|strong|em|code|pre|ul|ol|li|h[3-6])( class="language-[\w+-]+"| start="\d+")?>$/;

function tags(html: string): string[] {
  return html.match(/<[^>]*>/g) ?? [];
}

/** The text a browser would show: tags dropped, the five escapes undone. */
function text(html: string): string {
  return html
    .replace(/<br>/g, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

describe('renderMarkdown', () => {
  it('renders paragraphs, line breaks, bold, italic and code spans', () => {
    expect(renderMarkdown('Hello **bold** and *it* and _it_ and __b__.\nNext line\n\nSecond `a*b*c` para'))
      .toBe('<p>Hello <strong>bold</strong> and <em>it</em> and <em>it</em> and <strong>b</strong>.<br>Next line</p><p>Second <code>a*b*c</code> para</p>');
  });

  it('leaves snake_case, lone stars and arithmetic alone', () => {
    expect(renderMarkdown('a_b_c and 2 * 3 * 4 and x*')).toBe('<p>a_b_c and 2 * 3 * 4 and x*</p>');
  });

  it('renders lists (numbered ones keep their start) and headings', () => {
    expect(renderMarkdown('# Title\n- one\n- **two**\n  more\n\n3. three\n4. four\nafter'))
      .toBe('<h3>Title</h3><ul><li>one</li><li><strong>two</strong> more</li></ul><ol start="3"><li>three</li><li>four</li></ol><p>after</p>');
  });

  it('renders fenced code verbatim, escaped, and an unclosed fence (mid-stream) up to the end', () => {
    expect(renderMarkdown('Code:\n```js\nif (a < b && **c**) {}\n```\nDone')).toBe(
      '<p>Code:</p><pre><code class="language-js">if (a &lt; b &amp;&amp; **c**) {}</code></pre><p>Done</p>',
    );
    expect(renderMarkdown('```\n<b>x</b>\n')).toBe('<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>');
  });

  it('never lets markup from the text through', () => {
    const evil = [
      '<script>alert(1)</script>',
      '<img src=x onerror="alert(1)">',
      '**<b onmouseover=alert(1)>x</b>**',
      '- <iframe src="javascript:alert(1)">',
      '```"><svg onload=alert(1)>\ncode\n```',
      '`<style>` *<a href="x">y</a>*',
      '[link](javascript:alert(1)) ![img](x.png)',
    ];
    for (const s of evil) {
      const html = renderMarkdown(s);
      for (const t of tags(html)) expect(t, s).toMatch(ALLOWED_TAG);
      expect(html).not.toMatch(/<(script|img|iframe|svg|style|a|b)\b/i);
    }
  });

  it('keeps to its own tags and keeps every character for random text', () => {
    const rng = createRng(11);
    const alphabet = ['a', 'b', ' ', '\n', '\n\n', '*', '**', '_', '`', '```', '#', '- ', '1. ', '<', '>', '&', '"', "'", '=', '/', 'script', '&amp;'];
    for (let n = 0; n < 500; n++) {
      let s = '';
      const len = 1 + rng.int(40);
      for (let i = 0; i < len; i++) s += alphabet[rng.int(alphabet.length)];
      const html = renderMarkdown(s);
      for (const t of tags(html)) expect(t, JSON.stringify(s)).toMatch(ALLOWED_TAG);
      // Markup characters other than the Markdown syntax itself reach the page as text, never as markup.
      // (Fence lines show nothing of their own.)
      const shown = text(html);
      const visible = s.replace(/^\s*```.*$/gm, '');
      for (const c of ['<', '>', '"', "'", '=', '/']) expect(shown.split(c).length, `${c} in ${JSON.stringify(s)}`).toBe(visible.split(c).length);
    }
  });

  it('escapes the five HTML characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});
