/*
 * Card payments with Stripe.js (or localstripe's mock of it): flow (B) in store/payment/NOTES.md.
 *
 *   1. POST setupUrl                         -> {"client_secret": "seti_…_secret_…"}
 *   2. stripe.confirmCardSetup(secret, {payment_method: {card, billing_details}})  -> pm_…
 *   3. POST payUrl  (form fields + payment_method=pm_…)
 *        -> {"status": "succeeded", "redirect": url}
 *         | {"status": "requires_action", "client_secret": "pi_…_secret_…", "payment_intent": "pi_…"}
 *         | {"status": "failed", "message": text}
 *   4. if requires_action: stripe.confirmCardPayment(client_secret) (3-D Secure), then
 *      POST payUrl again (form fields + payment_intent=pi_…) -> the same answers.
 *
 * No build step, plain ES2017, no inline script needed (the site's CSP forbids it): a form with
 * data-card-payment is mounted on load, or call window.CardPayment.mount({...}) yourself.
 *
 *   <form data-card-payment data-publishable-key="pk_…" data-stripe-js="{{ stripe_js_url }}"
 *         data-setup-url="/checkout/card/setup" data-pay-url="/checkout/card/pay">
 *     <input type="hidden" name="csrf_token" value="…">
 *     <div data-card-element></div>
 *     <p data-card-errors role="alert"></p>
 *     <button type="submit">Pay £25.00</button>
 *   </form>
 */
(function () {
  'use strict';

  var stripeJsLoads = {};

  // Stripe.js must be loaded from its own origin; load it once per URL, on demand.
  function loadStripeJs(url) {
    if (window.Stripe) {
      return Promise.resolve(window.Stripe);
    }
    if (!stripeJsLoads[url]) {
      stripeJsLoads[url] = new Promise(function (resolve, reject) {
        var script = document.createElement('script');
        script.src = url;
        script.onload = function () {
          if (window.Stripe) {
            resolve(window.Stripe);
          } else {
            reject(new Error('Stripe.js loaded but Stripe is missing'));
          }
        };
        script.onerror = function () {
          delete stripeJsLoads[url];
          reject(new Error('Stripe.js could not be loaded'));
        };
        document.head.appendChild(script);
      });
    }
    return stripeJsLoads[url];
  }

  var GENERIC_ERROR = 'Something went wrong and you have not been charged. Please try again.';

  function fieldValue(form, name) {
    var field = form.elements.namedItem(name);
    return field && typeof field.value === 'string' ? field.value.trim() : '';
  }

  function defaultBillingDetails(form) {
    var details = {};
    var name = fieldValue(form, 'full_name') || fieldValue(form, 'name');
    var email = fieldValue(form, 'email');
    if (name) { details.name = name; }
    if (email) { details.email = email; }
    return details;
  }

  async function postForm(url, form, csrfToken, extra) {
    var body = new URLSearchParams(new FormData(form));
    Object.keys(extra || {}).forEach(function (key) { body.set(key, extra[key]); });
    var response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Accept': 'application/json', 'X-CSRF-Token': csrfToken},
      body: body
    });
    var data = {};
    try {
      data = await response.json();
    } catch (ignored) {
      data = {};
    }
    if (!response.ok) {
      // Our own 4xx answers carry a message for the shopper (a 429 says when to try again, and
      // names the field it is about when there is one); anything else does not.
      var error = new Error(data.message || (typeof data.detail === 'string' ? data.detail : '') || GENERIC_ERROR);
      error.field = typeof data.field === 'string' ? data.field : '';
      throw error;
    }
    return data;
  }

  function mount(options) {
    var form = typeof options.form === 'string' ? document.querySelector(options.form) : options.form;
    if (!form) { throw new Error('CardPayment.mount: form not found'); }
    var csrfToken = options.csrfToken || fieldValue(form, 'csrf_token');
    var mountPoint = options.cardElement || form.querySelector('[data-card-element]');
    var errorBox = options.errorElement || form.querySelector('[data-card-errors]');
    var billingDetails = options.billingDetails || defaultBillingDetails;
    var onSuccess = options.onSuccess || function (answer) { window.location.assign(answer.redirect); };
    var buttons = Array.prototype.slice.call(form.querySelectorAll('button[type="submit"], button:not([type])'));
    var busy = false;
    var card = null;
    var stripe = null;

    function showError(message) {
      if (errorBox) {
        errorBox.textContent = message || '';
        errorBox.hidden = !message;
      }
    }

    var fieldErrors = [];

    // A message about one field (the donation's Amount, say) goes beside that field, as the
    // server-rendered form would put it. False when the form has no such single field.
    function showFieldError(name, message) {
      var input = form.elements.namedItem(name);
      var field = input && input.closest ? input.closest('.field') : null;
      if (!field) { return false; }
      var id = 'f-' + name + '-error';
      var box = document.getElementById(id);
      if (!box) {
        box = document.createElement('p');
        box.className = 'error';
        box.id = id;
        var anchor = input;
        while (anchor.parentNode !== field) { anchor = anchor.parentNode; }
        field.insertBefore(box, anchor);
      }
      box.textContent = message;
      box.hidden = false;
      field.classList.add('has-error');
      input.setAttribute('aria-invalid', 'true');
      var described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (described.indexOf(id) < 0) { described.unshift(id); }
      input.setAttribute('aria-describedby', described.join(' '));
      fieldErrors.push({box: box, field: field, input: input, id: id});
      input.focus();
      return true;
    }

    function clearFieldErrors() {
      fieldErrors.forEach(function (shown) {
        shown.box.hidden = true;
        shown.field.classList.remove('has-error');
        shown.input.removeAttribute('aria-invalid');
        var rest = (shown.input.getAttribute('aria-describedby') || '').split(' ').filter(function (part) {
          return part && part !== shown.id;
        });
        shown.input.setAttribute('aria-describedby', rest.join(' '));
      });
      fieldErrors = [];
    }

    function setBusy(value) {
      busy = value;
      form.setAttribute('aria-busy', value ? 'true' : 'false');
      buttons.forEach(function (button) { button.disabled = value; });
    }

    var ready = loadStripeJs(options.jsUrl).then(function (Stripe) {
      // en-GB: Stripe.js's own messages (card errors, 3-D Secure) in British English. The mock ignores it.
      stripe = Stripe(options.publishableKey, {locale: 'en-GB'});
      card = stripe.elements().create('card');
      card.mount(mountPoint);
      return stripe;
    });

    async function finish(answer) {
      if (answer.status === 'succeeded') {
        onSuccess(answer);
        return true;
      }
      if (answer.status === 'failed') {
        showError(answer.message || GENERIC_ERROR);
        return false;
      }
      throw new Error(GENERIC_ERROR);
    }

    async function pay() {
      await ready;
      var setup = await postForm(options.setupUrl, form, csrfToken);
      var confirmed = await stripe.confirmCardSetup(setup.client_secret, {
        payment_method: {card: card, billing_details: billingDetails(form)}
      });
      if (confirmed.error) {
        showError(confirmed.error.message || GENERIC_ERROR);
        return false;
      }
      var paymentMethod = confirmed.setupIntent.payment_method;
      if (typeof paymentMethod !== 'string') { paymentMethod = paymentMethod.id; }

      var answer = await postForm(options.payUrl, form, csrfToken, {payment_method: paymentMethod});
      if (answer.status === 'requires_action') {
        var action = await stripe.confirmCardPayment(answer.client_secret);
        if (action.error) {
          // The bank said no or the shopper gave up. Ask the server anyway, so it records the outcome.
          showError(action.error.message || GENERIC_ERROR);
        }
        var intentId = answer.payment_intent || answer.client_secret.split('_secret_')[0];
        answer = await postForm(options.payUrl, form, csrfToken, {payment_intent: intentId});
      }
      return finish(answer);
    }

    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      if (busy) { return; }
      if (typeof form.reportValidity === 'function' && !form.reportValidity()) { return; }
      showError('');
      clearFieldErrors();
      setBusy(true);
      var done = false;
      try {
        done = await pay();
      } catch (error) {
        var message = error && error.message ? error.message : GENERIC_ERROR;
        if (!(error && error.field && showFieldError(error.field, message))) {
          showError(message);
        }
      } finally {
        // Stay disabled while the browser leaves for the confirmation page.
        if (!done) { setBusy(false); }
      }
    });

    return {ready: ready, form: form};
  }

  function autoMount() {
    var forms = document.querySelectorAll('form[data-card-payment]');
    Array.prototype.forEach.call(forms, function (form) {
      mount({
        form: form,
        publishableKey: form.getAttribute('data-publishable-key'),
        jsUrl: form.getAttribute('data-stripe-js'),
        setupUrl: form.getAttribute('data-setup-url'),
        payUrl: form.getAttribute('data-pay-url')
      });
    });
  }

  window.CardPayment = {mount: mount};

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', autoMount);
  } else {
    autoMount();
  }
})();
