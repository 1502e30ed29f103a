"""Signing in to the console: the login page, sign-out, and the new password a generated first
password must be swapped for. Sessions are Flask's signed cookie (``HttpOnly``, ``SameSite=Strict``,
``Secure`` behind TLS) naming the user and the user's session epoch, which sign-out, a password
change and disabling the user move on, so a copied cookie dies with the session it came from."""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, redirect, render_template, request, session, url_for

from engine.access.audit import MINOR_FAILURE, SUCCESS, Agent
from engine.access.users import LoginRefused, UserError
from routes.access_guard import caller, requires
from routes.engine_runtime import current_runtime

login = Blueprint("login", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    """Only a path on this console: never another site (an open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("console.overview")


@login.get("/login")
def login_form():
    return render_template("console/login.html", error=None, next=request.args.get("next", ""))


@login.post("/login")
def login_submit():
    access = current_runtime().access
    username = request.form.get("username", "").strip()
    try:
        person = access.users.login(username, request.form.get("password", ""))
    except LoginRefused as exc:
        access.audit.record(Agent("user", username[:64] or "unknown"), "login", "console", outcome=MINOR_FAILURE,
                            detail="locked" if exc.locked else "wrong credentials", source=request.remote_addr)
        return render_template("console/login.html", error=str(exc), next=request.form.get("next", "")), 401
    session.clear()
    now = time.time()
    session.update(uid=person.id, epoch=person.session_epoch, iat=now, seen=now, csrf=secrets.token_urlsafe(24))
    session.permanent = False
    access.audit.record(Agent("user", person.username), "login", "console", outcome=SUCCESS,
                        source=request.remote_addr)
    if person.must_change_password:
        return redirect(url_for("login.password_form"))
    return redirect(_safe_next(request.form.get("next")))


@login.post("/logout")
@requires("view")
def logout():
    person = caller().person
    if person is not None:
        current_runtime().access.users.end_sessions(person.id)
        current_runtime().access.audit.record(Agent("user", person.username), "logout", "console",
                                              source=request.remote_addr)
    session.clear()
    return redirect(url_for("login.login_form"))


@login.get("/password")
@requires("view")
def password_form():
    return render_template("console/password.html", error=None)


@login.post("/password")
@requires("view")
def password_submit():
    person = caller().person
    new, again = request.form.get("password", ""), request.form.get("confirm", "")
    if person is None:  # authentication off: there is no user to change
        return redirect(url_for("console.overview"))
    if new != again:
        return render_template("console/password.html", error="The two passwords differ."), 400
    try:
        current_runtime().access.users.set_password(person.username, new)
    except UserError as exc:
        return render_template("console/password.html", error=str(exc)), 400
    session.clear()
    return redirect(url_for("login.login_form"))
