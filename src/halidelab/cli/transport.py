"""``halidelab relax | bvse | md | defects``: transport predictions from a structure file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from halidelab.cli._common import (
    BATCH_HELP,
    OutputGuard,
    batch_deprecated,
    check_number,
    console,
    console_err,
    potential,
    print_json,
    warn,
)
from halidelab.cli._structures import load_structure, with_ordering

_MAX_ATOMS = typer.Option(
    None,
    "--max-atoms",
    help="Refuse structures above this many atoms (default: 1000 for MLIP "
    "work, 2000 for BVSE; raise it for a bigger cell on purpose).",
)


def _stress_target(res: Any) -> str:
    """`` (target X)`` of a relaxation's stress criterion, empty without one."""
    return "" if res.stress_tol_GPa is None else f" (target {res.stress_tol_GPa:g})"


def _thermal(res: Any, pot: Any, temperature: float, md_ps: float, quiet: bool, shape: str) -> Any:
    """The lattice at ``temperature`` of one relaxed structure, with a progress bar."""
    from halidelab.thermal import thermal_lattice

    if quiet:
        return thermal_lattice(res.to_structure(), pot, temperature, md_ps=md_ps, shape=shape)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(f"{res.formula}: NVT at {temperature:g} K"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeRemainingColumn(),
        console=console_err,
        transient=True,
    ) as bar:
        task = bar.add_task("md", total=None)
        return thermal_lattice(
            res.to_structure(),
            pot,
            temperature,
            md_ps=md_ps,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            shape=shape,
        )


def _temperatures(text: str) -> list[float]:
    from halidelab.errors import SimulationError

    try:
        temps = [float(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise SimulationError(
            f"cannot read temperatures {text!r}: write them in K like 500,600,700"
        ) from None
    if not temps or any(not 0 < t < 1e5 for t in temps):
        raise SimulationError(f"temperatures must be positive numbers in K, got {text!r}")
    return temps


def register(app: typer.Typer) -> None:
    """Add the transport commands to the app."""

    @app.command("relax")
    def relax_cmd(
        structures: list[Path] = typer.Argument(
            ..., help="CIF/POSCAR/extxyz of ordered structures."
        ),
        model: str = typer.Option(
            "chgnet",
            "--model",
            help="MLIP: chgnet, sevennet-0, ... (name-d3: plus D3(BJ) dispersion)",
        ),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        threads: int = typer.Option(None, "--threads", help="torch threads."),
        fmax: float = typer.Option(0.05, "--fmax", help="Force threshold, eV/A."),
        stress_tol: float = typer.Option(
            0.05,
            "--stress-tol",
            help="Cell relaxations also converge every stress component below this, GPa "
            "(0: the force threshold alone, ASE's filter criterion, which leaves up to fmax N/V)",
        ),
        steps: int = typer.Option(500, "--steps", help="Maximum optimiser steps."),
        fixed_cell: bool = typer.Option(False, "--fixed-cell", help="Relax positions only."),
        optimizer: str = typer.Option("FIRE", "--optimizer", help="FIRE, BFGS or MDMin."),
        temperature: float = typer.Option(
            None,
            "--temperature",
            help="Then expand the relaxed cell to its lattice at this temperature, K (the NVT "
            "MD mean stress brought to zero in every component, the symmetry kept); --out "
            "gets that lattice",
        ),
        isotropic: bool = typer.Option(
            False,
            "--isotropic",
            help="With --temperature: expand the volume alone, keeping the 0 K cell's shape "
            "(the method before the anisotropic one; leaves a deviatoric stress)",
        ),
        thermal_ps: float = typer.Option(
            1.0, "--thermal-ps", help="Length of each NVT run of --temperature, ps."
        ),
        batch: bool = typer.Option(False, "--batch", hidden=True, help=BATCH_HELP),
        out: Path = typer.Option(
            None,
            "--out",
            help="Write the relaxed structure (CIF; a folder with several structures).",
        ),
        max_atoms: int = _MAX_ATOMS,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Relax positions and cell with an MLIP; report convergence and lattice.

        Several structures are relaxed together (one model call per optimiser step). A file
        with partial occupancies is relaxed as its lowest-Ewald-energy ordered model (said in a
        note, recorded in the provenance).
        """
        from halidelab.errors import StructureError
        from halidelab.relax import relax_structures
        from halidelab.structures.models import check_structure_path

        check_number(fmax, "--fmax", above=0, unit="eV/A")
        check_number(stress_tol, "--stress-tol", minimum=0, unit="GPa")
        check_number(steps, "--steps", minimum=1)
        check_number(max_atoms, "--max-atoms", minimum=1)
        if temperature is not None:
            check_number(temperature, "--temperature", above=0, unit="K")
            # 0.3 ps of each run is discarded; the rest needs 16 steps of 2 fs for its error
            check_number(thermal_ps, "--thermal-ps", minimum=0.35, unit="ps")
            if fixed_cell:
                raise StructureError(
                    "--temperature expands the relaxed cell; it cannot go with --fixed-cell"
                )
        elif isotropic:
            raise StructureError(
                "--isotropic shapes the --temperature expansion; give --temperature"
            )
        guard = OutputGuard(structures)
        targets: list[Path] = []
        if out is not None:
            if len(structures) == 1 and out.suffix:
                targets = [check_structure_path(guard.file(out, "--out"))]
            else:
                guard.folder(out, "--out", create=False)
                targets = [guard.file_in(out, f"{p.stem}_relaxed.cif", "--out") for p in structures]
                if len(set(targets)) < len(targets):
                    raise StructureError(
                        "two structure files share a name; their relaxed files in "
                        f"{out} would overwrite each other: rename one"
                    )
        loaded = [
            load_structure(p, kind="mlip", max_atoms=max_atoms, variable_cell=not fixed_cell)
            for p in structures
        ]
        pot = potential(model, device, threads)
        results = relax_structures(
            [s for s, _ in loaded],
            pot,
            fmax=fmax,
            steps=steps,
            relax_cell=not fixed_cell,
            optimizer=optimizer,
            stress_tol_GPa=stress_tol or None,
        )
        batch_deprecated(batch)
        results = [with_ordering(r, info) for r, (_, info) in zip(results, loaded, strict=True)]
        warm = (
            [
                _thermal(
                    r,
                    pot,
                    temperature,
                    thermal_ps,
                    quiet=as_json,
                    shape="isotropic" if isotropic else "anisotropic",
                )
                for r in results
            ]
            if temperature is not None
            else []
        )
        if targets:
            from pymatgen.core import Structure

            from halidelab.structures.models import write_structure

            if not (len(structures) == 1 and out.suffix):
                guard.folder(out, "--out")
            for i, (target, res) in enumerate(zip(targets, results, strict=True)):
                write_structure(
                    Structure.from_dict(warm[i].structure) if warm else res.to_structure(), target
                )
                if not res.converged:
                    warn(
                        f"{target} holds an unconverged relaxation (fmax {res.fmax_eV_A:.3f} "
                        f"eV/A, target {res.fmax_target_eV_A}; max stress "
                        f"{res.max_stress_GPa:.3f} GPa{_stress_target(res)} after {res.steps} "
                        "steps): raise --steps"
                    )
        if as_json:
            rows = []
            for i, res in enumerate(results):
                d = res.to_dict()
                d.pop("structure")
                if warm:
                    d["thermal_lattice"] = warm[i].to_dict()
                    d["thermal_lattice"].pop("structure")
                rows.append(d)
            print_json(rows[0] if len(rows) == 1 else rows)
            return
        for p, th in zip(structures, warm, strict=False):
            console.print(
                f"{p.name}: at {th.temperature_K:g} K V = {th.volume_A3:.2f} A^3, "
                f"{th.expansion_percent:+.2f} +- {th.expansion_se_percent:.2f} % on the relaxed "
                f"cell (thermal pressure {th.thermal_pressure_GPa:.2f} GPa, bulk modulus "
                f"{th.bulk_modulus_GPa:.1f} GPa, {th.iterations} NVT runs of {th.md_ps:g} ps)"
            )
            da, db, dc = th.lattice_change_percent
            kept = f", {th.space_group} kept" if th.space_group else ""
            status = {
                "verified": "; the last run verified this cell",
                "stepped": "; one step after the last run, not run again",
                "kept": "; the last run's cell (the step from it overshot)",
            }.get(th.final_cell or "", "")
            console.print(
                f"  {th.shape}: a {da:+.2f} %, b {db:+.2f} %, c {dc:+.2f} %{kept}; mean stress "
                "of the last NVT run (xx yy zz, GPa): "
                + " ".join(f"{x:+.2f}" for x in th.md_stresses_GPa[-1][:3])
                + status
            )
        if len(results) > 1:
            t = Table(
                title=f"relaxed with {results[0].provenance.model} "
                f"({results[0].provenance.model_version}) as one batch"
            )
            for col in (
                "file",
                "formula",
                "converged",
                "steps",
                "fmax (eV/A)",
                "stress (GPa)",
                "a (A)",
                "c (A)",
                "V (A^3)",
                "E (eV/atom)",
            ):
                t.add_column(col)
            for p, res in zip(structures, results, strict=True):
                lf = res.lattice_final
                t.add_row(
                    p.name,
                    res.formula,
                    "yes" if res.converged else "NO",
                    str(res.steps),
                    f"{res.fmax_eV_A:.3f}",
                    f"{res.max_stress_GPa:.3f}",
                    f"{lf.a_A:.4f}",
                    f"{lf.c_A:.4f}",
                    f"{lf.volume_A3:.2f}",
                    f"{res.energy_per_atom_eV:.4f}",
                )
            console.print(t)
            return
        res = results[0]
        t = Table(title=f"{res.formula}: {res.provenance.model} ({res.provenance.model_version})")
        t.add_column("")
        t.add_column("before")
        t.add_column("after")
        for k in ("a_A", "b_A", "c_A", "alpha_deg", "beta_deg", "gamma_deg", "volume_A3"):
            t.add_row(
                k, f"{getattr(res.lattice_initial, k):.4f}", f"{getattr(res.lattice_final, k):.4f}"
            )
        t.add_row(
            "energy_eV_atom",
            f"{res.energy_initial_per_atom_eV:.4f}",
            f"{res.energy_per_atom_eV:.4f}",
        )
        console.print(t)
        state = "converged" if res.converged else "NOT converged"
        console.print(
            f"{state} in {res.steps}/{res.max_steps} steps: fmax {res.fmax_eV_A:.4f} eV/A "
            f"(target {res.fmax_target_eV_A}), max stress {res.max_stress_GPa:.3f} GPa"
            f"{_stress_target(res)}"
        )

    @app.command("bvse")
    def bvse_cmd(
        structure: Path = typer.Argument(..., help="CIF/POSCAR of an ordered structure."),
        ion: str = typer.Option("Li", "--ion", help="Mobile ion."),
        resolution: float = typer.Option(0.2, "--resolution", help="Grid spacing, A."),
        cube: Path = typer.Option(None, "--cube", help="Write the map as a .cube file."),
        max_atoms: int = _MAX_ATOMS,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Bond-valence site energy map and 1D/2D/3D percolation barriers.

        A file with partial occupancies is mapped as its lowest-Ewald-energy ordered model
        (said in a note, recorded in the provenance).
        """
        from halidelab.transport.bvse import bvse, grid_shape

        check_number(max_atoms, "--max-atoms", minimum=1)
        guard = OutputGuard([structure])
        if cube is not None:
            cube = guard.file(
                cube if cube.suffix == ".cube" else cube.with_suffix(".cube"), "--cube"
            )
        s, info = load_structure(structure, kind="bvse", max_atoms=max_atoms)
        grid_shape(s, resolution)  # a bad --resolution fails before any work
        bar = None
        if not as_json:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(
                TextColumn(f"BVSE map of {len(s)} atoms"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                console=console_err,
                transient=True,
            )
            bar.start()
            bar_task = bar.add_task("bvse", total=1.0)
        try:
            res, _ = bvse(
                s,
                mobile_ion=ion,
                resolution_A=resolution,
                cube=cube,
                progress=None
                if bar is None
                else (lambda done, total: bar.update(bar_task, completed=done / total)),
            )
        finally:
            if bar is not None:
                bar.stop()
        res = with_ordering(res, info)
        if as_json:
            print_json(res.to_dict())
            return

        def fmt(v: float | None) -> str:
            return "none below e_max" if v is None else f"{v:.3f}"

        t = Table(title=f"BVSE {ion}+ in {res.formula} (grid {res.grid_shape})")
        t.add_column("percolation")
        t.add_column("barrier (eV)")
        for lab, v in (("1D", res.e_1d_eV), ("2D", res.e_2d_eV), ("3D", res.e_3d_eV)):
            t.add_row(lab, fmt(v))
        for lab, v in zip("abc", res.e_axis_eV, strict=True):
            t.add_row(f"along {lab}", fmt(v))
        console.print(t)
        if cube is not None:
            console.print(f"map written to {cube}")

    @app.command("defects")
    def defects_cmd(
        structure: Path = typer.Argument(..., help="CIF/POSCAR of an ordered, relaxed structure."),
        model: str = typer.Option(
            "chgnet",
            "--model",
            help="MLIP: chgnet, sevennet-0, ... (name-d3: plus D3(BJ) dispersion)",
        ),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        threads: int = typer.Option(None, "--threads", help="torch threads."),
        fmax: float = typer.Option(0.05, "--fmax", help="Force threshold, eV/A."),
        steps: int = typer.Option(300, "--steps", help="Optimiser steps per relaxation."),
        min_width: float = typer.Option(
            9.0, "--min-width", help="Supercell face-to-face width to reach, A."
        ),
        n_relax: int = typer.Option(
            3, "--relax", help="Candidate pairs relaxed per mechanism (the lowest unrelaxed)."
        ),
        max_atoms: int = typer.Option(260, "--max-atoms", help="Largest defect supercell."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Li Frenkel and Schottky (LiX) formation energies of a full Li sublattice, and
        the intrinsic carrier fraction they give (Ea = E_m + E_f / 2).

        A structure with vacant Li sites needs no defect made: its vacancies are the
        carriers, and nothing is computed. MLIP defect energies are softened like their
        barriers (CHGNet puts LiCl's Schottky pair near 0.6 eV, far below measured alkali
        halides): read them as a ranking, and see ``halidelab validate --tiers defect``.
        """
        from halidelab.constants import ROOM_TEMPERATURE_K
        from halidelab.transport.defects import li_defect_energies

        check_number(fmax, "--fmax", above=0, unit="eV/A")
        check_number(steps, "--steps", minimum=1)
        check_number(min_width, "--min-width", above=0, unit="A")
        check_number(n_relax, "--relax", minimum=1)
        check_number(max_atoms, "--max-atoms", minimum=1)
        s, info = load_structure(structure, kind="mlip", max_atoms=max_atoms)
        pot = potential(model, device, threads)
        bar = None
        if not as_json:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(
                TextColumn("defects: {task.fields[stage]}"),
                BarColumn(),
                TimeRemainingColumn(),
                console=console_err,
                transient=True,
            )
            bar.start()
            # stages: site network, perfect cell, LiX reference, candidates, relaxations
            bar_task = bar.add_task("defects", total=5, stage="site network")

        def told(stage: str) -> None:
            if bar is not None:
                bar.update(bar_task, advance=1, stage=stage)

        try:
            res = li_defect_energies(
                s,
                pot,
                min_width_A=min_width,
                max_atoms=max_atoms,
                fmax=fmax,
                steps=steps,
                n_relax=n_relax,
                progress=told,
            )
        finally:
            if bar is not None:
                bar.stop()
        res = with_ordering(res, info)
        if as_json:
            print_json(res.to_dict())
            return
        if not res.li_sublattice_full:
            console.print(
                f"{res.formula}: {res.n_vacant_li_sites} of the Li sites are vacant: structural "
                "vacancies are the carriers; no defect formation energy is needed"
            )
            return

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        t = Table(
            title=f"Li defects in {res.formula} ({res.n_atoms} atoms, "
            f"{'x'.join(map(str, res.supercell))} cells, {res.provenance.model})"
        )
        for col in (
            "pair",
            "vacancy",
            "partner",
            "separation (A)",
            "unrelaxed (eV)",
            "E_f (eV)",
            "note",
        ):
            t.add_column(col)
        for c in sorted(res.calcs, key=lambda c: (c.mechanism, c.energy_unrelaxed_eV)):
            note = (
                "recombined"
                if c.recombined
                else (
                    "not relaxed"
                    if c.energy_eV is None
                    else ("" if c.converged else "NOT converged")
                )
            )
            t.add_row(
                c.mechanism,
                c.vacancy_label,
                c.partner_label,
                f"{c.separation_A:.2f}",
                f"{c.energy_unrelaxed_eV:.3f}",
                fmt(c.energy_eV),
                note,
            )
        console.print(t)
        for w in res.warnings:
            warn(w)
        if res.formation_energy_eV is None:
            warn("no pair survived its relaxation: no formation energy")
            return
        frac = res.carrier_fraction(ROOM_TEMPERATURE_K)
        console.print(
            f"lowest: {res.mechanism}, E_f = {res.formation_energy_eV:.3f} eV -> Ea = E_m + "
            f"{res.formation_energy_eV / 2:.3f} eV; intrinsic Li-vacancy fraction at 25 C "
            f"{frac:.2g} (ideal dilute equilibrium, no vibrational entropy, no extrinsic defects)"
        )

    @app.command("md")
    def md_cmd(
        structures: list[Path] = typer.Argument(
            ..., help="CIF/POSCAR of ordered (relaxed) structures."
        ),
        temperatures: str = typer.Option("600", "--T", help="Temperatures in K, e.g. 500,600,700."),
        ps: float = typer.Option(10.0, "--ps", help="Simulated time per temperature, ps."),
        timestep: float = typer.Option(2.0, "--timestep", help="Time step, fs."),
        model: str = typer.Option("chgnet", "--model", help="MLIP name."),
        device: str = typer.Option("auto", "--device"),
        threads: int = typer.Option(None, "--threads"),
        thermostat: str = typer.Option("bussi", "--thermostat", help="bussi or langevin."),
        mobile: str = typer.Option("all", "--mobile", help="all or li (framework fixed)."),
        seed: int = typer.Option(0, "--seed"),
        interval: int = typer.Option(10, "--interval", help="Steps between frames."),
        skip_ps: float = typer.Option(
            0.0, "--skip-ps", help="Equilibration left out of the MSD, ps."
        ),
        haven: float = typer.Option(1.0, "--haven", help="Haven ratio for Nernst-Einstein."),
        batch: bool = typer.Option(False, "--batch", hidden=True, help=BATCH_HELP),
        out: Path = typer.Option(
            Path("md"),
            "--out",
            help="Folder for trajectories (resumable); one subfolder per structure "
            "when several are given.",
        ),
        max_atoms: int = _MAX_ATOMS,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """NVT MD at each temperature, then D, sigma (Nernst-Einstein) and Arrhenius.

        Every temperature of every structure runs together (one model call per step);
        trajectories and checkpoints are per run, so a killed command resumes.
        """
        from halidelab.engine.md import MDBatch, MDFailure, MDTask
        from halidelab.errors import FitError, SimulationError
        from halidelab.transport.diffusion import analyse_trajectory, md_arrhenius

        temps = _temperatures(temperatures)
        check_number(ps, "--ps", above=0, unit="ps")
        check_number(timestep, "--timestep", above=0, maximum=20, unit="fs")
        check_number(interval, "--interval", minimum=1)
        check_number(skip_ps, "--skip-ps", minimum=0, unit="ps")
        check_number(haven, "--haven", above=0)
        check_number(max_atoms, "--max-atoms", minimum=1)
        if skip_ps >= ps:
            raise SimulationError(f"--skip-ps {skip_ps:g} leaves nothing of --ps {ps:g}: skip less")
        pot = potential(model, device, threads)
        stems = [p.stem for p in structures]
        if len(set(stems)) != len(stems):
            raise SimulationError(
                "two structure files share a name; their trajectories would collide: rename one"
            )
        guard = OutputGuard(structures)
        guard.folder(out, "--out")
        loaded = [load_structure(p, kind="mlip", max_atoms=max_atoms) for p in structures]
        inputs = [s for s, _ in loaded]
        folders = (
            [out] if len(structures) == 1 else [guard.folder(out / st, "--out") for st in stems]
        )
        steps = max(1, int(round(ps * 1000 / timestep)))
        jobs = [(k, T, folders[k] / f"md_{T:g}K.traj") for k in range(len(inputs)) for T in temps]
        tasks = [MDTask(inputs[k], T, traj, seed=seed) for k, T, traj in jobs]
        sim = MDBatch(
            tasks,
            steps,
            pot,
            timestep_fs=timestep,
            thermostat=thermostat,
            mobile=mobile,
            interval=interval,
        )
        bar = None
        if not as_json:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(
                TextColumn(f"MD, {len(tasks)} run{'s' if len(tasks) > 1 else ''}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} steps, {task.fields[n]} running"),
                TimeRemainingColumn(),
                console=console_err,
            )
            bar.start()
            bar_task = bar.add_task("md", total=steps, n=len(tasks))
        try:
            for step in sim:
                if bar is not None:
                    bar.update(bar_task, completed=step, n=sim.n_running)
        finally:
            if bar is not None:
                bar.stop()
        results = sim.results()
        failures: list[str] = []
        runs_all = []
        for (k, T, _), r in zip(jobs, results, strict=True):
            if isinstance(r, MDFailure):
                failures.append(f"{stems[k]} at {T:g} K stopped: {r.message}")
            else:
                runs_all.append((k, r))
        if not runs_all:
            raise SimulationError(failures[0])
        batch_deprecated(batch)
        reports = []
        for k in range(len(inputs)):
            info = loaded[k][1]
            runs = [with_ordering(r, info) for j, r in runs_all if j == k]
            diffs = [
                with_ordering(
                    analyse_trajectory(
                        r.trajectory,
                        haven_ratio=haven,
                        skip_ps=skip_ps,
                        temperature_K=r.mean_temperature_K,
                    ),
                    info,
                )
                for r in runs
            ]
            arr, arr_error = None, None
            if len(diffs) >= 2:
                try:
                    arr = md_arrhenius(diffs)
                except FitError as exc:  # e.g. fewer than two diffusive temperatures
                    arr_error = str(exc)
            if arr_error:
                failures.append(f"{stems[k]}: {arr_error}")
            reports.append((k, runs, diffs, arr))
        if as_json:
            rows = [
                {
                    "structure": str(structures[k]),
                    "runs": [r.to_dict() for r in runs],
                    "diffusion": [d.to_dict() for d in diffs],
                    "arrhenius": arr.to_dict() if arr else None,
                }
                for k, runs, diffs, arr in reports
            ]
            if len(rows) == 1:
                rows[0].pop("structure")
                data: object = rows[0]
                if failures:
                    rows[0]["failures"] = failures
            else:
                data = {"structures": rows, "failures": failures}
            print_json(data)
            return
        for k, runs, diffs, arr in reports:
            if not runs:
                continue
            t = Table(
                title=f"MD {runs[0].formula}"
                + (f" ({structures[k].name})" if len(inputs) > 1 else "")
                + ", "
                f"{pot.name}, mobile={mobile}, H_R={haven:g}, one batch"
            )
            for col in (
                "T (K)",
                "<T> (K)",
                "ps",
                "Li hops",
                "D (cm2/s)",
                "D_c/D_ab",
                "sigma (S/cm)",
                "pellet sigma (S/cm)",
                "drift eV/atom",
            ):
                t.add_column(col)
            for r, d in zip(runs, diffs, strict=True):
                drift = (
                    "-" if r.conserved_drift_eV_atom is None else f"{r.conserved_drift_eV_atom:.2e}"
                )
                if not d.diffusive:  # no number from a non-diffusive trajectory
                    t.add_row(
                        f"{r.temperature_K:g}",
                        f"{r.mean_temperature_K:.0f}",
                        f"{r.duration_ps:.2f}",
                        str(d.checks.n_hops),
                        "not diffusive",
                        "-",
                        "-",
                        "-",
                        drift,
                    )
                    continue
                t.add_row(
                    f"{r.temperature_K:g}",
                    f"{r.mean_temperature_K:.0f}",
                    f"{r.duration_ps:.2f}",
                    str(d.checks.n_hops),
                    f"{d.d_cm2_s:.2e} +- {d.d_err_cm2_s:.1e}",
                    "-" if d.anisotropy_c_ab is None else f"{d.anisotropy_c_ab:.2f}",
                    f"{d.sigma_S_cm:.2e} +- {d.sigma_err_S_cm:.1e}",
                    _pellet(d),
                    drift,
                )
            console.print(t)
            for r, d in zip(runs, diffs, strict=True):
                if not d.diffusive:
                    console.print(f"warning: {r.temperature_K:g} K: {d.verdict}")
            if arr is not None:
                console.print(
                    f"single crystal, orientation average: Ea = {arr.ea_eV:.3f} +- "
                    f"{arr.ea_err_eV:.3f} eV (from D); sigma(300 K) = "
                    f"{arr.sigma_300K_S_cm:.2e} S/cm [{arr.sigma_300K_low_S_cm:.1e}, "
                    f"{arr.sigma_300K_high_S_cm:.1e}]"
                )
                pc = arr.polycrystal or {}
                pellet = (
                    "random polycrystal (a pellet's bulk, if the cell's anisotropy is the "
                    "crystal's)"
                )
                console.print(
                    f"{pellet}: Ea = {pc['ea_eV']:.3f} +- {pc['ea_err_eV']:.3f} eV; sigma(300 K) "
                    f"= {pc['sigma_300K_S_cm']:.2e} S/cm [{pc['sigma_300K_low_S_cm']:.1e}, "
                    f"{pc['sigma_300K_high_S_cm']:.1e}]"
                    if pc.get("ea_eV") is not None
                    else f"{pellet}: {pc.get('reason', 'no fit')}"
                )
                for w in arr.warnings:
                    warn(w)
        for f in failures:
            warn(f)


def _pellet(d: Any) -> str:
    """The MD table's pellet column: the random polycrystal's sigma and its error."""
    if d.sigma_polycrystal_S_cm is None:
        return "-"
    err = d.sigma_polycrystal_err_S_cm
    return f"{d.sigma_polycrystal_S_cm:.2e}" + ("" if err is None else f" +- {err:.1e}")
