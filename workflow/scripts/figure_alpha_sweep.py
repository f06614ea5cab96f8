"""Gain, source score and preservation against α for one route (rule figure_alpha_sweep)."""

from musicsteer.logs import job_log
from musicsteer.report.figures import plot_alpha_sweep
from musicsteer.steering.routes import Route
from musicsteer.storage import read_table

with job_log(snakemake.log, snakemake.threads):
    route = Route(**snakemake.params.route)
    plot_alpha_sweep(
        read_table(snakemake.input.sweep),
        snakemake.output[0],
        route.source,
        route.headline_labels,
        route.title,
        snakemake.params.headline,
    )
