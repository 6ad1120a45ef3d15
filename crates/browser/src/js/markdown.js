// The rendered page's main content as Markdown (evaluated in the page by `page.markdown()`).
(() => {
  const root = document.querySelector('main, article, [role=main]') || document.body;
  if (!root) return '';
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'CANVAS', 'IFRAME', 'HEAD', 'OBJECT', 'EMBED']);
  const BLOCK = new Set(['P', 'DIV', 'SECTION', 'ARTICLE', 'MAIN', 'HEADER', 'FOOTER', 'NAV', 'ASIDE', 'FIGURE', 'FIGCAPTION', 'FORM', 'FIELDSET', 'DL', 'DT', 'DD', 'ADDRESS', 'DETAILS', 'SUMMARY']);
  const hidden = (el) => {
    if (el.hidden) return true;
    const style = getComputedStyle(el);
    return style.display === 'none' || style.visibility === 'hidden';
  };
  const inner = (el, depth) => [...el.childNodes].map((n) => md(n, depth)).join('');
  const list = (el, depth) => {
    const ordered = el.tagName === 'OL';
    let i = Number(el.getAttribute('start') || 1);
    const items = [...el.children].filter((c) => c.tagName === 'LI').map((li) => {
      const marker = ordered ? `${i++}. ` : '- ';
      const body = inner(li, depth + 1).replace(/\n{3,}/g, '\n\n').trim();
      const indent = '  '.repeat(depth);
      return indent + marker + body.split('\n').join('\n' + indent + ' '.repeat(marker.length));
    });
    return '\n\n' + items.join('\n') + '\n\n';
  };
  const table = (el) => {
    const rows = [...el.querySelectorAll('tr')].map((tr) =>
      [...tr.children].map((cell) => inner(cell, 0).replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim()));
    if (!rows.length) return '';
    const width = Math.max(...rows.map((r) => r.length));
    const line = (r) => '| ' + Array.from({ length: width }, (_, i) => r[i] ?? '').join(' | ') + ' |';
    const out = [line(rows[0]), '| ' + Array(width).fill('---').join(' | ') + ' |', ...rows.slice(1).map(line)];
    return '\n\n' + out.join('\n') + '\n\n';
  };
  const md = (node, depth) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent.replace(/\s+/g, ' ');
    if (node.nodeType !== Node.ELEMENT_NODE) return '';
    const el = node;
    const tag = el.tagName;
    if (SKIP.has(tag) || hidden(el)) return '';
    if (/^H[1-6]$/.test(tag)) {
      const text = inner(el, depth).replace(/\s+/g, ' ').trim();
      return text ? `\n\n${'#'.repeat(Number(tag[1]))} ${text}\n\n` : '';
    }
    switch (tag) {
      case 'BR': return '\n';
      case 'HR': return '\n\n---\n\n';
      case 'PRE': return '\n\n```\n' + el.textContent.replace(/\n$/, '') + '\n```\n\n';
      case 'CODE': return '`' + el.textContent + '`';
      case 'STRONG': case 'B': { const t = inner(el, depth).trim(); return t ? `**${t}**` : ''; }
      case 'EM': case 'I': { const t = inner(el, depth).trim(); return t ? `_${t}_` : ''; }
      case 'A': {
        const text = inner(el, depth).replace(/\s+/g, ' ').trim();
        const href = el.getAttribute('href');
        if (!href || href.startsWith('javascript:')) return text;
        return text ? `[${text}](${el.href})` : '';
      }
      case 'IMG': {
        const src = el.getAttribute('src');
        return src ? `![${el.getAttribute('alt') || ''}](${el.src})` : '';
      }
      case 'UL': case 'OL': return list(el, depth);
      case 'TABLE': return table(el);
      case 'BLOCKQUOTE': {
        const body = inner(el, depth).replace(/\n{3,}/g, '\n\n').trim();
        return '\n\n' + body.split('\n').map((l) => '> ' + l).join('\n') + '\n\n';
      }
      case 'LI': return '\n' + inner(el, depth) + '\n';
      default:
        return BLOCK.has(tag) ? '\n\n' + inner(el, depth).trim() + '\n\n' : inner(el, depth);
    }
  };
  return md(root, 0)
    .split('\n').map((l) => l.replace(/[ \t]+$/, '')).join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
})()
