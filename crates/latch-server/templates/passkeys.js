// Latch's passkey script: runs the WebAuthn ceremony a hosted page started and posts its form.
//
// A form with `data-passkey` ("create" or "get") carries the server's options (JSON, binary values
// base64url) in `data-options`; its `[data-passkey-start]` button, hidden until this script
// finds WebAuthn, runs the ceremony, puts the browser's answer (JSON, base64url) into the form's
// `credential` input and submits it. A "get" form whose options ask for conditional mediation also
// offers the passkeys in the e-mail field's autofill (`autocomplete="username webauthn"`) where the
// browser supports it. No other script, no network request of its own: the form post is all.
"use strict";
(function () {
  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    var pk = JSON.parse(json).publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
    return pk;
  }

  function requestOptions(json) {
    var pk = JSON.parse(json).publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
    return pk;
  }

  function created(c) {
    return {
      id: c.id,
      rawId: toText(c.rawId),
      type: c.type,
      response: {
        attestationObject: toText(c.response.attestationObject),
        clientDataJSON: toText(c.response.clientDataJSON)
      },
      extensions: {}
    };
  }

  function asserted(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: toText(c.rawId),
      type: c.type,
      response: {
        authenticatorData: toText(r.authenticatorData),
        clientDataJSON: toText(r.clientDataJSON),
        signature: toText(r.signature),
        userHandle: r.userHandle ? toText(r.userHandle) : null
      },
      extensions: {}
    };
  }

  function say(form, text) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = text;
      status.hidden = false;
    }
  }

  function post(form, answer) {
    form.querySelector("input[name=credential]").value = JSON.stringify(answer);
    form.submit();
  }

  function failed(form, error) {
    if (error && error.name === "AbortError") {
      return;
    }
    if (error && error.name === "InvalidStateError") {
      say(form, "This device already holds a passkey for your account.");
      return;
    }
    say(form, "The passkey was not used. Try again, or use another way to sign in.");
  }

  function setUp(form) {
    var kind = form.getAttribute("data-passkey");
    var json = form.getAttribute("data-options");
    var button = form.querySelector("[data-passkey-start]");
    if (!button || !json) {
      return;
    }
    var waiting = null;
    button.hidden = false;
    button.addEventListener("click", function () {
      if (waiting) {
        waiting.abort();
        waiting = null;
      }
      var asked =
        kind === "create"
          ? navigator.credentials.create({ publicKey: creationOptions(json) }).then(created)
          : navigator.credentials.get({ publicKey: requestOptions(json) }).then(asserted);
      asked.then(function (answer) {
        post(form, answer);
      }, function (error) {
        failed(form, error);
      });
    });
    // Conditional mediation (WebAuthn §5.1.4.1): the passkeys in the e-mail field's autofill. Not
    // on a page that shows a failed sign-in: an authenticator that answers by itself would
    // otherwise post again and again (into the abuse limits); the button still works there.
    var failedBefore = document.querySelector("#login-error") !== null;
    var conditional =
      kind === "get" && !failedBefore && JSON.parse(json).mediation === "conditional";
    if (conditional && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) {
          return;
        }
        waiting = new AbortController();
        navigator.credentials
          .get({ publicKey: requestOptions(json), mediation: "conditional", signal: waiting.signal })
          .then(asserted)
          .then(function (answer) {
            post(form, answer);
          }, function (error) {
            failed(form, error);
          });
      });
    }
  }

  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  var forms = document.querySelectorAll("form[data-passkey]");
  for (var i = 0; i < forms.length; i++) {
    setUp(forms[i]);
  }
})();
