/** A horizontal bar chart as a standalone SVG, for docs/benchmarks.md; no charting dependency for a few rectangles. */
export interface Bar {
  label: string;
  value: number;
  /** A second, lighter bar drawn under the first (e.g. the reference beside the app). */
  note?: string;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(title: string, unit: string, bars: Bar[]): string {
  const width = 760;
  const labelWidth = 250;
  const barHeight = 22;
  const gap = 8;
  const top = 40;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const plot = width - labelWidth - 120;
  const height = top + bars.length * (barHeight + gap) + 10;
  const rows = bars.map((bar, i) => {
    const y = top + i * (barHeight + gap);
    const w = Math.max(1, (bar.value / max) * plot);
    return [
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="#4c78a8"/>`,
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 15}">${bar.value} ${escape(unit)}${bar.note ? ` ${escape(bar.note)}` : ''}</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}
