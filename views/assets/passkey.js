// Passkey forms (form[data-passkey]): the browser's WebAuthn ceremony with the options embedded in
// the page, then the form is posted with the answer in its `response` field. Without JavaScript
// or WebAuthn the forms stay hidden and the page says why.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  var supported = Boolean(lib && lib.browserSupportsWebAuthn());
  document.querySelectorAll('[data-passkey-nojs]').forEach(function (el) { el.hidden = true; });
  document.querySelectorAll('[data-passkey-unsupported]').forEach(function (el) { el.hidden = supported; });
  if (!supported) return;
  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    form.hidden = false;
    var busy = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      var problem = form.querySelector('[data-passkey-error]');
      if (problem) problem.hidden = true;
      var source = document.getElementById(form.getAttribute('data-options'));
      var options = JSON.parse(source.textContent);
      var ceremony = form.getAttribute('data-passkey') === 'register' ? lib.startRegistration : lib.startAuthentication;
      ceremony({ optionsJSON: options }).then(
        function (answer) {
          form.querySelector('input[name="response"]').value = JSON.stringify(answer);
          HTMLFormElement.prototype.submit.call(form);
        },
        function () {
          busy = false;
          if (problem) {
            problem.hidden = false;
            problem.focus();
          }
        },
      );
    });
  });
})();
