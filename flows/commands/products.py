"""``airwarn products``: re-render a stored run's maps, review report and bulletins (and deliver)."""

from __future__ import annotations

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    """Add the ``products`` command to the CLI."""

    @app.command("products")
    def products_cmd(
        issue_time: str = typer.Option(..., "--issue-time",
                                       help="Issue time of the run, e.g. 2026-11-28T15:00 "
                                            "(Asia/Shanghai)."),
        only: str = typer.Option("maps,report,bulletins", "--only",
                                 help="Comma list of maps,report,bulletins,delivery."),
        deliver: bool = typer.Option(False, "--deliver",
                                     help="Also deliver the bulletins (dry run unless "
                                          "settings.delivery.dry_run is false; never twice)."),
        no_pdf: bool = typer.Option(False, "--no-pdf", help="Skip the PDF bulletins."),
    ) -> None:
        """Re-render the products of a stored run from its forecast and warnings files."""
        from airwarn.products.delivery import DeliveryConfigError
        from airwarn.products.run import render_products

        from airwarn import configs

        what = [w.strip() for w in only.split(",") if w.strip()] + (["delivery"] if deliver
                                                                     else [])
        cfg = configs.load_config()
        console = Console()
        try:
            with console.status(f"rendering {', '.join(what)} …"):
                res = render_products(cfg, issue_time, what=what, pdf=not no_pdf)
        except (FileNotFoundError, ValueError, DeliveryConfigError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        for note in res.notes:
            console.print(f"[yellow]note:[/] {note}")
        console.print(f"products of run {res.stamp} in {res.out_dir}:", soft_wrap=True)
        if res.maps:
            console.print(f"  maps ({len(res.maps)}): {res.maps[0].parent}", soft_wrap=True)
        if res.report:
            console.print(f"  review report: {res.report}", soft_wrap=True)
        for did, files in res.bulletins.items():
            console.print(f"  bulletins {did}: {', '.join(sorted(files))} in "
                          f"{next(iter(files.values())).parent}", soft_wrap=True)
        if not res.bulletins and "bulletins" in what:
            console.print("  bulletins: none (no warning decisions in this run)")
        for r in res.deliveries:
            console.print(f"  delivery {r.decision_id} {r.channel}: {r.status} {r.detail}",
                          soft_wrap=True)
        if any(r.status == "failed" for r in res.deliveries):
            raise typer.Exit(1)
