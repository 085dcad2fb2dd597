// Security keys and passkeys. A form marked data-webauthn="create" or "get" asks the server
// for options (data-options, with the form's CSRF token), lets the browser talk to the
// authenticator, puts the answer in the form's "credential" field and submits the form.
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function ids(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = toBytes(c.id);
      return copy;
    });
  }

  function creationOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = toBytes(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBytes(pk.user.id) });
    if (pk.excludeCredentials) { pk.excludeCredentials = ids(pk.excludeCredentials); }
    return { publicKey: pk };
  }

  function requestOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = toBytes(pk.challenge);
    if (pk.allowCredentials) { pk.allowCredentials = ids(pk.allowCredentials); }
    return { publicKey: pk };
  }

  function created(cred) {
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toText(cred.response.attestationObject),
        clientDataJSON: toText(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : undefined
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function asserted(cred) {
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toText(cred.response.authenticatorData),
        clientDataJSON: toText(cred.response.clientDataJSON),
        signature: toText(cred.response.signature),
        userHandle: toText(cred.response.userHandle)
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function start(form, event) {
    event.preventDefault();
    var status = form.querySelector("[data-webauthn-status]");
    var say = function (text) { if (status) { status.textContent = text; status.hidden = false; } };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form.getAttribute("data-unsupported") || "This browser cannot use security keys.");
      return;
    }
    var body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    var mode = form.getAttribute("data-webauthn");
    fetch(form.getAttribute("data-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (r) {
      if (!r.ok) { throw new Error("options " + r.status); }
      return r.json();
    }).then(function (options) {
      if (mode === "create") {
        return navigator.credentials.create(creationOptions(options)).then(created);
      }
      return navigator.credentials.get(requestOptions(options)).then(asserted);
    }).then(function (answer) {
      form.elements.credential.value = JSON.stringify(answer);
      form.submit();
    }).catch(function (e) {
      say((form.getAttribute("data-failed") || "The security key did not answer.") + " (" + e.name + ": " + e.message + ")");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-webauthn]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        form.addEventListener("submit", function (e) { start(form, e); });
      })(forms[i]);
    }
  });
})();
