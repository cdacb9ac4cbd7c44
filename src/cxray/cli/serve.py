"""`cxray serve` (the web app) and `cxray user` (who may use it)."""

# No `from __future__ import annotations`: Typer reads the annotations at start-up, and string
# annotations would make it evaluate them (slower start).

import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cxray.cli.common import (
    Lang,
    LangOption,
    WorkspaceArg,
    app,
    err,
    fail,
    open_workspace,
    out,
    say,
)

users_app = typer.Typer(
    help="Users of the web app and their roles (agent, analyst, admin).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(users_app, name="user")


@app.command()
def serve(
    path: WorkspaceArg,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_send: Annotated[
        bool, typer.Option("--no-send", help="Run the background jobs but send no mail.")
    ] = False,
    lang: LangOption = Lang.en,
) -> None:
    """The web app over a workspace: overview, journey canvas, touchpoints, customers.

    While it runs, `cxray import` and every other command on the same workspace still work:
    the app lets go of the warehouse while they run and shows the new data afterwards.
    With no users yet, a one-time link to make the first admin is printed.
    """
    import secrets

    from cxray import accounts
    from cxray.warehouse import holder

    ws = open_workspace(path, read_only=False)
    try:
        users = accounts.count_users(ws.warehouse)
    finally:
        ws.close()
    if holder.server_of(path) is not None:
        fail(
            say(
                lang,
                f"{path}: the web app is already serving this workspace",
                f"{path}: de webapp bedient deze werkruimte al",
            )
        )
    probe = socket.socket()
    # as uvicorn binds: the connections of a server just stopped (TIME_WAIT) do not hold the port
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as exc:
        fail(
            say(
                lang,
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another with --port",
                f"kan niet luisteren op {host}:{port}: {exc.strerror}; kies een andere met --port",
            )
        )
    finally:
        probe.close()
    import uvicorn

    from cxray.web import create_app

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    setup_token = None if users else secrets.token_urlsafe(32)
    secret = holder.new_secret()
    web = create_app(
        path,
        holder_secret=secret,
        setup_token=setup_token,
        warm=True,
        schedule=True,
        send_mail=not no_send,
    )
    web.state.warmer.report = _warm_report(lang)
    holder.write_server_file(path, url, secret)
    # uvicorn ends the process with the signal that stopped it, after the app's shutdown
    web.router.on_shutdown.append(lambda: holder.remove_server_file(path))
    try:
        out.print(say(lang, f"cxray serves {path} at {url}", f"cxray bedient {path} op {url}"))
        if setup_token:
            out.print(
                say(
                    lang,
                    "No users yet. Make the first admin with this one-time link:",
                    "Nog geen gebruikers. Maak de eerste beheerder met deze eenmalige link:",
                )
            )
            out.print(f"    {url}/setup?token={setup_token}", soft_wrap=True)
        out.print(say(lang, "Stop with Ctrl+C.", "Stoppen met Ctrl+C."))
        sys.stdout.flush()
        uvicorn.run(web, host=host, port=port, log_level="warning")
    finally:
        holder.remove_server_file(path)


def _warm_report(lang: Lang) -> Callable[[Any, float, Exception | None], None]:
    """A line per page computed in the background: people see the first build advance."""
    from cxray.i18n import number, text_of

    code = lang.value
    pages: dict[str, int] = {}

    def report(page: Any, seconds: float, error: Exception | None) -> None:
        if not pages or page.name in pages:  # a new round: the data changed
            pages.clear()
            out.print(say(lang, "computing every page ...", "elke pagina berekenen ..."))
        pages[page.name] = 1
        label = text_of(page.label, code)
        took = f"{number(seconds, code, 1)} s"
        if error is None:
            line = say(lang, f"ready: {label} ({took})", f"klaar: {label} ({took})")
        else:
            line = say(
                lang,
                f"not ready: {label} ({took}; the page says why)",
                f"niet klaar: {label} ({took}; de pagina zegt waarom)",
            )
        out.print(line, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    return report


def _password(given: str | None, stdin: bool, lang: Lang) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    if given:
        return given
    return typer.prompt(
        say(lang, "Password", "Wachtwoord"), hide_input=True, confirmation_prompt=True
    )


PasswordOption = Annotated[
    str | None,
    typer.Option(
        envvar="CXRAY_PASSWORD",
        help="The password (else asked for; or read from CXRAY_PASSWORD).",
        show_envvar=True,
    ),
]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


@users_app.command("add")
def user_add(
    path: WorkspaceArg,
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="agent, analyst or admin.")] = "analyst",
    password: PasswordOption = None,
    password_stdin: StdinOption = False,
    lang: LangOption = Lang.en,
) -> None:
    """Add a user who can sign in to the web app."""
    from cxray import accounts

    ws = open_workspace(path, read_only=False)
    try:
        accounts.check_role(role)
        user = accounts.add_user(
            ws.warehouse, name, _password(password, password_stdin, lang), role
        )
    except accounts.AccountError as exc:
        fail(exc)
    finally:
        ws.close()
    out.print(
        say(lang, f"Added {user.name} ({user.role}).", f"{user.name} toegevoegd ({user.role}).")
    )


@users_app.command("list")
def user_list(path: WorkspaceArg, lang: LangOption = Lang.en) -> None:
    """Every user and their role."""
    from cxray import accounts

    ws = open_workspace(path, read_only=True)
    try:
        users = accounts.list_users(ws.warehouse)
    finally:
        ws.close()
    if not users:
        out.print(say(lang, "No users yet.", "Nog geen gebruikers."))
    for user in users:
        since = user.created_at.date().isoformat() if user.created_at else ""
        out.print(f"{user.name}\t{user.role}\t{since}", highlight=False)


@users_app.command("role")
def user_role(
    path: WorkspaceArg,
    name: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help="agent, analyst or admin.")],
    lang: LangOption = Lang.en,
) -> None:
    """Give a user another role."""
    from cxray import accounts

    ws = open_workspace(path, read_only=False)
    try:
        accounts.set_role(ws.warehouse, name, role)
    except accounts.AccountError as exc:
        fail(exc)
    finally:
        ws.close()
    out.print(say(lang, f"{name} is now {role}.", f"{name} is nu {role}."))


@users_app.command("password")
def user_password(
    path: WorkspaceArg,
    name: Annotated[str, typer.Argument(help="The user.")],
    password: PasswordOption = None,
    password_stdin: StdinOption = False,
    lang: LangOption = Lang.en,
) -> None:
    """Set a user's password."""
    from cxray import accounts

    ws = open_workspace(path, read_only=False)
    try:
        accounts.set_password(ws.warehouse, name, _password(password, password_stdin, lang))
    except accounts.AccountError as exc:
        fail(exc)
    finally:
        ws.close()
    out.print(say(lang, f"Password of {name} set.", f"Wachtwoord van {name} ingesteld."))


@users_app.command("remove")
def user_remove(
    path: WorkspaceArg,
    name: Annotated[str, typer.Argument(help="The user.")],
    lang: LangOption = Lang.en,
) -> None:
    """Remove a user (their sessions end at once)."""
    from cxray import accounts

    ws = open_workspace(path, read_only=False)
    try:
        accounts.remove_user(ws.warehouse, name)
    except accounts.AccountError as exc:
        fail(exc)
    finally:
        ws.close()
    out.print(say(lang, f"Removed {name}.", f"{name} verwijderd."))


__all__ = ["Path", "err", "serve", "users_app"]
