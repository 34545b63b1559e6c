"""The dashboard's forms (Flask-WTF: each carries its CSRF token).

Labels are the visible names people and screen readers use; the field rules
that matter (URLs, slugs, tags) are checked again by the service layer, which
the API shares, so the two can never disagree.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

REDIRECT_CHOICES = [
    SelectChoice("302", "302 Found (temporary, the default)"),
    SelectChoice("301", "301 Moved Permanently (browsers remember it)"),
    SelectChoice("307", "307 Temporary Redirect (keeps the method)"),
    SelectChoice("308", "308 Permanent Redirect (keeps the method)"),
]


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="the two passwords differ")],
    )


class LinkForm(FlaskForm):
    url = StringField("Long URL", validators=[DataRequired(), Length(max=8192)])
    slug = StringField("Custom slug (optional)", validators=[Optional(), Length(max=64)])
    tags = StringField("Tags (comma-separated, optional)", validators=[Optional(), Length(max=400)])
    expires_at = DateTimeLocalField(
        "Expires at (UTC, optional)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    max_clicks = IntegerField(
        "Maximum clicks (optional)",
        validators=[Optional(), NumberRange(min=1, max=1_000_000_000)],
    )
    redirect_status = SelectField("Redirect type", choices=REDIRECT_CHOICES, default="302")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class KeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=100)])
    scopes = MultiCheckboxField(
        "Scopes",
        choices=[
            SelectChoice("read", "read (list links, stats)"),
            SelectChoice("write", "write (create, change, delete)"),
        ],
        default=["read", "write"],
        validators=[DataRequired(message="choose at least one scope")],
    )


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("member", "member (own links only)"),
            SelectChoice("admin", "admin (everything)"),
        ],
        default="member",
    )
