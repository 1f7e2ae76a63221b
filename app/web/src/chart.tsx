// Chart.js line charts over time series from /api/series/*: x is unix seconds
// (chain clock) on a linear axis labelled in UTC, so no date adapter is needed.
// The canvas is recreated only when the series change.
import { useEffect, useRef } from "react";
import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
} from "chart.js";
import { utc } from "./rustfmt";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip, Filler);

export interface Series {
  label: string;
  points: { x: number; y: number }[];
}

const PALETTE = ["#2f7ed8", "#e4572e", "#29a36a", "#f3a712", "#8e44ad", "#17a2b8", "#c0392b", "#7f8c8d"];

export function TimeChart(props: {
  testid: string;
  series: Series[];
  yLabel: string;
  yFormat?: (v: number) => string;
  stepped?: boolean;
  height?: number;
}) {
  const canvas = useRef<HTMLCanvasElement | null>(null);
  const { series, yLabel, yFormat, stepped } = props;
  useEffect(() => {
    if (!canvas.current) return;
    const datasets: ChartDataset<"line", { x: number; y: number }[]>[] = series.map((s, i) => ({
      label: s.label,
      data: s.points,
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: `${PALETTE[i % PALETTE.length]}33`,
      pointRadius: s.points.length > 60 ? 0 : 2,
      stepped: stepped ? "before" : false,
      tension: 0,
    }));
    const chart = new Chart(canvas.current, {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        scales: {
          x: {
            type: "linear",
            ticks: { callback: (v) => utc(Math.round(Number(v))).slice(11, 16), maxTicksLimit: 8 },
            title: { display: true, text: "time (UTC, chain clock)" },
          },
          y: {
            beginAtZero: true,
            title: { display: true, text: yLabel },
            ticks: yFormat ? { callback: (v) => yFormat(Number(v)) } : {},
          },
        },
        plugins: {
          legend: { display: series.length > 1 },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? utc(Math.round(items[0].parsed.x ?? 0)) : ""),
              label: (item) => `${item.dataset.label}: ${yFormat ? yFormat(item.parsed.y ?? 0) : item.parsed.y}`,
            },
          },
        },
      },
    });
    return () => chart.destroy();
  }, [series, yLabel, yFormat, stepped]);
  const empty = series.every((s) => s.points.length === 0);
  return (
    <div className="chart" data-testid={props.testid} data-points={series.reduce((n, s) => n + s.points.length, 0)}>
      {empty ? <div className="chart-empty">no data yet</div> : null}
      <div style={{ height: props.height ?? 240, position: "relative" }}>
        <canvas ref={canvas} />
      </div>
    </div>
  );
}
