/**
 * Tests only: a strict parser for the XML subset the audit messages use (a declaration, elements,
 * attributes in double quotes, text, the five entities and character references). It throws on
 * anything malformed (an unescaped < or &, a missing or mismatched end tag, a repeated attribute,
 * trailing content), so a test that parses a message back also proves it well-formed.
 */
export interface XmlNode {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.-]*/;

export function parseXml(input: string): XmlNode {
  let i = 0;
  const s = input.replace(/^\uFEFF/, '');
  const fail = (what: string): never => {
    throw new Error(`XML: ${what} at offset ${i}: ${JSON.stringify(s.slice(i, i + 40))}`);
  };
  const decode = (raw: string): string => {
    if (/<|&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(raw)) fail('an unescaped < or &');
    return raw.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
      if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
      if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
      return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]!;
    });
  };
  const name = (): string => {
    const m = NAME.exec(s.slice(i));
    if (!m) fail('a name expected');
    i += m![0].length;
    return m![0];
  };
  const space = () => {
    while (/\s/.test(s[i] ?? '')) i++;
  };
  const element = (): XmlNode => {
    if (s[i] !== '<') fail('< expected');
    i++;
    const node: XmlNode = { name: name(), attributes: {}, children: [], text: '' };
    for (;;) {
      const before = i;
      space();
      if (s.startsWith('/>', i)) {
        i += 2;
        return node;
      }
      if (s[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail('a space before an attribute expected');
      const attr = name();
      if (attr in node.attributes) fail(`attribute ${attr} repeated`);
      if (s[i] !== '=' || s[i + 1] !== '"') fail('="value" expected');
      const end = s.indexOf('"', i + 2);
      if (end < 0) fail('unterminated attribute');
      node.attributes[attr] = decode(s.slice(i + 2, end));
      i = end + 1;
    }
    for (;;) {
      const next = s.indexOf('<', i);
      if (next < 0) fail(`end tag of ${node.name} missing`);
      node.text += decode(s.slice(i, next));
      i = next;
      if (s.startsWith('</', i)) {
        i += 2;
        if (name() !== node.name) fail(`end tag of ${node.name} expected`);
        space();
        if (s[i] !== '>') fail('> expected');
        i++;
        return node;
      }
      node.children.push(element());
    }
  };
  if (s.startsWith('<?xml')) {
    const end = s.indexOf('?>');
    if (end < 0) fail('unterminated declaration');
    i = end + 2;
  }
  space();
  const root = element();
  space();
  if (i !== s.length) fail('content after the root element');
  return root;
}

/** The children of a node with a name. */
export function childrenNamed(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}
