"""Authentication routes: the OAuth token endpoint (password, client credentials, JWT
bearer; authorization code and refresh token through ``api_oauth``), revoke, identity and
userinfo, and the SOAP partner login.
"""
from __future__ import annotations

import base64
import hmac
import json
import re
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, Mapping
from xml.sax.saxutils import escape as xml_escape

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from flask import Flask, Response, request

from sandbox.salesforce.constants import (
    API_VERSION,
    JWT_GRANT,
    PARTNER_NS,
    SESSION_SECONDS,
    XML_CT,
)
from sandbox.salesforce.api_oauth import (
    _install_authorize,
    answer,
    check_client as check_app,
    code_grant,
    refresh_grant,
    token_body,
)
from sandbox.salesforce.errors import not_found, oauth_error
from sandbox.salesforce.ids import normalize_id, om_time
from sandbox.salesforce.wire import _json, _route

if TYPE_CHECKING:
    from sandbox.salesforce.model import SalesforceState


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _install_auth(app: Flask, state: SalesforceState) -> None:
    _install_authorize(app, state)

    def user_by_name(username: str) -> tuple[str, dict[str, str]] | None:
        for who, cred in state.credentials.items():
            if cred["username"].lower() == username.strip().lower():
                return state.user_ids[who], cred
        return None

    def password_ok(cred: Mapping[str, str], password: str) -> bool:
        return hmac.compare_digest(password, cred["password"]) or \
            hmac.compare_digest(password, cred["password"] + cred["security_token"])

    def token_response(user_id: str, flow: str) -> Response:
        issued = state.new_session(user_id, state.client_id, flow)
        return answer(token_body(state, issued, flow))

    def client_from_request(form: Mapping[str, str]) -> tuple[str, str]:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return auth.username or "", auth.password or ""
        return form.get("client_id", ""), form.get("client_secret", "")

    def check_client(client_id: str, secret: str | None) -> None:
        check_app(state, client_id, secret)

    def verify_jwt(assertion: str) -> str:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise oauth_error("invalid_grant", "invalid assertion")
        try:
            header = json.loads(_b64url(parts[0]))
            claims = json.loads(_b64url(parts[1]))
            signature = _b64url(parts[2])
        except (ValueError, TypeError):
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            raise oauth_error("invalid_grant", "invalid assertion")
        check_client(str(claims.get("iss", "")), None)
        try:
            state.jwt_public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                                        hashes.SHA256())
        except Exception:  # noqa: BLE001 - cryptography raises InvalidSignature
            raise oauth_error("invalid_grant", "invalid assertion") from None
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        accepted = {"https://login.salesforce.com", "https://test.salesforce.com",
                    state.community_url}
        if not any(a in accepted for a in audiences):
            raise oauth_error("invalid_grant", "Audience validation failed")
        try:
            exp = float(claims.get("exp"))
        except (TypeError, ValueError):
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if exp < time.time():
            raise oauth_error("invalid_grant", "expired authorization code")
        found = user_by_name(str(claims.get("prn") or claims.get("sub") or ""))
        if found is None:
            raise oauth_error("invalid_grant", "user hasn't approved this consumer")
        return found[0]

    @_route(app, state, "/services/oauth2/token", ["POST"])
    def oauth_token() -> Response:
        form = request.form
        grant = form.get("grant_type", "")
        if grant == "password":
            check_client(form.get("client_id", ""), form.get("client_secret", ""))
            found = user_by_name(form.get("username", ""))
            if found is None or not password_ok(found[1], form.get("password", "")):
                raise oauth_error("invalid_grant", "authentication failure")
            return token_response(found[0], "password")
        if grant == "client_credentials":
            client_id, secret = client_from_request(form)
            check_client(client_id, secret)
            return token_response(state.user_ids["api"], "client_credentials")
        if grant == JWT_GRANT:
            return token_response(verify_jwt(form.get("assertion", "")), "jwt")
        if grant in ("authorization_code", "refresh_token"):
            client_id, secret = client_from_request(form)
            flow = code_grant if grant == "authorization_code" else refresh_grant
            return answer(flow(state, form, client_id, secret))
        if not grant:
            raise oauth_error("invalid_request", "grant type not supported")
        raise oauth_error("unsupported_grant_type", "grant type not supported")

    @_route(app, state, "/services/oauth2/revoke", ["POST", "GET"])
    def oauth_revoke() -> Response:
        """A session goes alone; a refresh token takes the sessions it issued with it."""
        if state.auth.tokens.revoke_value(request.values.get("token", "")) is None:
            raise oauth_error("unsupported_token_type", "this token type is not supported")
        return _json(None, 200)

    def identity_body(rec: Mapping[str, Any], caller: str) -> dict[str, Any]:
        rest = f"{state.base_url}/services/data/v{{version}}/"
        return {"id": f"{state.base_url}/id/{state.org_id}/{rec['Id']}", "asserted_user": caller == rec["Id"],
                "user_id": rec["Id"], "organization_id": state.org_id, "username": rec["Username"],
                "nick_name": rec["Alias"], "display_name": state.value("User", rec, "Name"),
                "email": rec["Email"], "first_name": rec.get("FirstName"), "last_name": rec["LastName"],
                "active": rec["IsActive"], "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
                "utcOffset": 0, "last_modified_date": rec["LastModifiedDate"], "is_app_installed": True,
                "urls": {"rest": rest, "sobjects": rest + "sobjects/", "query": rest + "query/"}}

    def bad_token() -> Response:
        return Response("Bad_OAuth_Token", status=403, content_type="text/plain;charset=UTF-8")

    @_route(app, state, "/id/<org>/<user>", ["GET"])
    def identity(org: str, user: str) -> Response:
        caller = state.authenticate(request.headers.get("Authorization", ""))
        if caller is None:
            return bad_token()
        rec = state.records["User"].get(normalize_id(user) or "")
        if rec is None or normalize_id(org) != state.org_id:
            raise not_found()
        return _json(identity_body(rec, caller))

    @_route(app, state, "/services/oauth2/userinfo", ["GET", "POST"])
    def userinfo() -> Response:
        caller = state.authenticate(request.headers.get("Authorization", ""))
        if caller is None:
            return bad_token()
        rec = state.records["User"][caller]
        ident = identity_body(rec, caller)
        return _json({"sub": ident["id"], "user_id": caller, "organization_id": state.org_id,
                      "preferred_username": rec["Username"], "nickname": rec["Alias"],
                      "name": ident["display_name"], "email": rec["Email"], "email_verified": True,
                      "given_name": rec.get("FirstName"), "family_name": rec["LastName"], "zoneinfo": "GMT",
                      "profile": f"{state.base_url}/{caller}", "address": {},
                      "is_salesforce_integration_user": False, "urls": ident["urls"],
                      "active": rec["IsActive"],
                      "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
                      "updated_at": om_time(rec["LastModifiedDate"]), "is_app_installed": True})

    @_route(app, state, "/services/Soap/u/<ver>", ["POST"])
    def soap_login(ver: str) -> Response:
        try:
            root = ET.fromstring(request.get_data())
        except ET.ParseError:
            return soap_fault("INVALID_LOGIN",
                              "Invalid username, password, security token; or user locked out.")
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        found = user_by_name(values.get("username", ""))
        if found is None or not password_ok(found[1], values.get("password", "")):
            return soap_fault("INVALID_LOGIN",
                              "Invalid username, password, security token; or user locked out.")
        user_id, cred = found
        token = state.new_session(user_id).access
        rec = state.records["User"][user_id]
        version = ver if re.match(r"^\d+\.0$", ver) else API_VERSION
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns="{PARTNER_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{state.base_url}/services/Soap/m/{version}/{state.org15}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{state.base_url}/services/Soap/u/{version}/{state.org15}</serverUrl>"
            f"<sessionId>{token}</sessionId><userId>{user_id}</userId><userInfo>"
            "<accessibilityMode>false</accessibilityMode><chatterExternal>false</chatterExternal>"
            "<currencySymbol>$</currencySymbol>"
            "<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>"
            "<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDisallowHtmlAttachments>false"
            "</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts>"
            f"<organizationId>{state.org_id}</organizationId>"
            "<organizationMultiCurrency>false</organizationMultiCurrency>"
            "<organizationName>Socialdesk Sandbox</organizationName>"
            f"<profileId>00e{state.org_id[3:15]}AAA</profileId>"
            f'<roleId xsi:nil="true"/><sessionSecondsValid>{SESSION_SECONDS}</sessionSecondsValid>'
            f"<userDefaultCurrencyIsoCode xsi:nil=\"true\"/><userEmail>{xml_escape(rec['Email'])}</userEmail>"
            f"<userFullName>{xml_escape(state.value('User', rec, 'Name') or '')}</userFullName>"
            f"<userId>{user_id}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale>"
            f"<userName>{xml_escape(cred['username'])}</userName><userTimeZone>GMT</userTimeZone>"
            "<userType>Standard</userType><userUiSkin>Theme3</userUiSkin>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>")
        return Response(xml, status=200, content_type=XML_CT)

    def soap_fault(code: str, message: str) -> Response:
        xml = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
               'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
               'xmlns:sf="urn:fault.partner.soap.sforce.com" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
               f"<soapenv:Body><soapenv:Fault><faultcode>{code}</faultcode><faultstring>{code}: "
               f"{message}</faultstring>"
               f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
               f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
               "</soapenv:Fault>"
               "</soapenv:Body></soapenv:Envelope>")
        return Response(xml, status=500, content_type=XML_CT)
