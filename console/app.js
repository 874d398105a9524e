// rabta caseworker console. Plain ES5 and XMLHttpRequest so that it runs on old Android browsers;
// no framework, no inline script (the page is served with Content-Security-Policy default-src
// 'self'). Every value from the server is put on the page with textContent, never as HTML.
(function () {
  'use strict';

  var TOKEN_KEY = 'rabta.token';
  var POLL_MS = 5000;
  var REQUEST_TIMEOUT_MS = 20000;
  var MAX_PAGES = 5;
  var SEVERITY_RANK = { critical: 0, high: 1, normal: 2, low: 3 };
  var CATEGORY_LABELS = {
    physical_violence: 'Physical violence',
    threats: 'Threats',
    harassment: 'Harassment',
    forced_marriage: 'Forced marriage',
    other: 'Other',
    interrupted_report: 'Report interrupted',
    checkin_help_now: 'Check-in: needs help now',
    checkin_talk: 'Check-in: would like to talk',
    missed_checkin: 'Missed check-in'
  };
  var STATUS_LABELS = {
    open: 'Open',
    acknowledged: 'Acknowledged',
    claimed: 'Claimed',
    closed: 'Closed'
  };
  var ANSWER_LABELS = {
    category: 'What happened',
    when: 'When',
    safe_now: 'Safe now',
    safe_to_call: 'Safe to call her',
    call_time: 'Best time to call',
    district: 'District',
    referral: 'May share with',
    wellbeing: 'This week'
  };
  var CONSENT_LABELS = {
    callback: 'Call her back',
    referral_ngo: 'Share with an NGO',
    referral_police: 'Share with the police',
    sms: 'Text messages'
  };
  var LANGUAGE_LABELS = { ur: 'Urdu', roman: 'Roman Urdu', en: 'English' };
  var CHANNEL_LABELS = { ussd: 'USSD (dialled in)', sms: 'Text message' };
  var VALUE_LABELS = { ngo: 'NGO', help_now: 'Needs help now', talk: 'Would like to talk' };
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov',
    'Dec'];

  var state = {
    token: null,
    me: null,
    cases: [],
    current: null,       // the case shown in detail
    wanted: null,        // the reference being opened or shown
    view: 'signin',
    queueView: 'team',   // mine, unassigned, team, closed
    search: {},          // the search form's filters, as API parameters
    queueGeneration: 0,
    timelineAt: 0,
    timelineStale: false,
    inFlight: false,
    poller: null,
    ticker: null
  };
  var memoryToken = null;

  function $(id) { return document.getElementById(id); }

  // --- Language: every string on the page is English in the code and looked up in UR when she
  // reads the console in Urdu (right to left). Her choice is kept for her by the server.
  var UR = {
    // Sign-in and the bar
    'Sign in': 'سائن اِن',
    'Sign out': 'سائن آؤٹ',
    'Reports': 'رپورٹیں',
    'Your access token': 'آپ کا رسائی ٹوکن',
    'Ask your supervisor for a token. It stays on this page only until you close it.':
      'ٹوکن اپنی سپروائزر سے لیں۔ یہ صرف اس صفحے کے بند ہونے تک رہتا ہے۔',
    'This page needs JavaScript.': 'اس صفحے کو جاوا اسکرپٹ درکار ہے۔',
    'You have been signed out. Please sign in again.': 'آپ سائن آؤٹ ہو گئی ہیں۔ دوبارہ سائن اِن کریں۔',
    'Your token has expired. Ask your administrator for a new one.':
      'آپ کا ٹوکن ختم ہو گیا ہے۔ نئے ٹوکن کے لیے ایڈمنسٹریٹر سے کہیں۔',
    'That token was not accepted.': 'یہ ٹوکن قبول نہیں ہوا۔',
    'Cannot reach the server. Check the connection and try again.':
      'سرور تک رابطہ نہیں ہو سکا۔ کنکشن دیکھ کر دوبارہ کوشش کریں۔',
    'This case is not available to you.': 'یہ کیس آپ کے لیے دستیاب نہیں۔',
    'You are not allowed to do this.': 'آپ کو اس کی اجازت نہیں۔',
    'The server is busy. Try again in a moment.': 'سرور مصروف ہے۔ تھوڑی دیر میں دوبارہ کوشش کریں۔',
    'Something went wrong (error {0}).': 'کچھ غلط ہو گیا (خرابی {0})۔',
    // The queue
    'Cases': 'کیس',
    'Mine': 'میرے',
    'Unassigned': 'بغیر ذمہ دار',
    'Team': 'ٹیم',
    'Closed': 'بند',
    'Search': 'تلاش',
    'Reference': 'حوالہ',
    'Severity': 'شدت',
    'Any': 'کوئی بھی',
    'Critical': 'انتہائی فوری',
    'High': 'فوری',
    'Normal': 'عام',
    'Low': 'کم',
    'Type': 'نوعیت',
    'Assigned to': 'ذمہ دار',
    'Anyone': 'کوئی بھی',
    'Nobody': 'کوئی نہیں',
    'Every team': 'سب ٹیمیں',
    'District': 'ضلع',
    'Reported from': 'اس تاریخ سے',
    'Reported until': 'اس تاریخ تک',
    'Overdue only': 'صرف تاخیر والے',
    'Clear': 'صاف کریں',
    'No cases here. This list updates by itself.': 'یہاں کوئی کیس نہیں۔ یہ فہرست خود تازہ ہوتی ہے۔',
    'Loading\u2026': 'لوڈ ہو رہا ہے\u2026',
    '{0} case': '{0} کیس',
    '{0} cases': '{0} کیس',
    '{0} case found': '{0} کیس ملا',
    '{0} cases found': '{0} کیس ملے',
    'updated {0}': 'تازہ {0}',
    'Awaiting approval': 'منظوری کا انتظار',
    'yours': 'آپ کا',
    'Retrying.': 'دوبارہ کوشش ہو رہی ہے۔',
    'Views': 'فہرستیں',
    'Acknowledge within {0}': '{0} میں تصدیق کریں',
    'Overdue by {0}': '{0} تاخیر',
    'Alert {0} sent; next alert in {1}': 'الرٹ {0} بھیجا گیا؛ اگلا الرٹ {1} میں',
    'Alert {0} sent; next alert due now': 'الرٹ {0} بھیجا گیا؛ اگلا الرٹ ابھی',
    // Labels of codes
    'Physical violence': 'مار پیٹ',
    'Threats': 'دھمکیاں',
    'Harassment': 'ہراسانی',
    'Forced marriage': 'زبردستی شادی',
    'Other': 'کچھ اور',
    'Report interrupted': 'بات ادھوری رہ گئی',
    'Check-in: needs help now': 'ہفتہ وار رابطہ: ابھی مدد چاہیے',
    'Check-in: would like to talk': 'ہفتہ وار رابطہ: بات کرنا چاہتی ہیں',
    'Missed check-in': 'رابطے کا جواب نہیں آیا',
    'Duress': 'خطرے کا اشارہ',
    'Open': 'کھلا',
    'Acknowledged': 'تصدیق شدہ',
    'Claimed': 'ذمہ داری لی گئی',
    'What happened': 'کیا ہوا',
    'When': 'کب',
    'Safe now': 'ابھی محفوظ',
    'Safe to call her': 'فون کرنا محفوظ',
    'Best time to call': 'فون کا بہتر وقت',
    'May share with': 'کس کو بتا سکتے ہیں',
    'This week': 'اس ہفتے',
    'Call her back': 'واپس فون',
    'Share with an NGO': 'این جی او کو بتانا',
    'Share with the police': 'پولیس کو بتانا',
    'Text messages': 'پیغامات',
    'Urdu': 'اردو',
    'Roman Urdu': 'رومن اردو',
    'English': 'انگریزی',
    'USSD (dialled in)': 'یو ایس ایس ڈی (کوڈ ملا کر)',
    'Text message': 'پیغام',
    'NGO': 'این جی او',
    'Needs help now': 'ابھی مدد چاہیے',
    'Would like to talk': 'بات کرنا چاہتی ہیں',
    'Yes': 'جی ہاں',
    'No': 'نہیں',
    'Today': 'آج',
    'Earlier': 'پہلے',
    'Morning': 'صبح',
    'Afternoon': 'دوپہر',
    'Evening': 'شام',
    'Police': 'پولیس',
    'Neither': 'کسی کو نہیں',
    'Help now': 'ابھی مدد',
    'Talk': 'بات',
    'Fine': 'ٹھیک',
    'Referred': 'آگے بھیجا گیا',
    'Resolved': 'حل ہو گیا',
    'No contact': 'رابطہ نہیں ہوا',
    'Unsafe to contact': 'رابطہ محفوظ نہیں',
    'Duplicate': 'دہرا',
    // One case
    'All cases': 'سب کیس',
    'Case': 'کیس',
    'Acknowledge': 'تصدیق کریں',
    'Claim': 'ذمہ داری لیں',
    'Received': 'موصول',
    'by you': 'آپ نے',
    'You': 'آپ',
    'Acknowledge by': 'تصدیق کی آخری حد',
    'Phone': 'فون',
    'Not safe to call': 'فون کرنا محفوظ نہیں',
    'Safe to call': 'فون کرنا محفوظ ہے',
    'Call: {0}': 'فون: {0}',
    'About her': 'ان کے بارے میں',
    'Language': 'زبان',
    'Not chosen': 'منتخب نہیں',
    'Came by': 'رابطے کا ذریعہ',
    'Earlier cases': 'پچھلے کیس',
    'None': 'کوئی نہیں',
    '{0} more with another team': '{0} مزید، دوسری ٹیم کے پاس',
    '{0} more with other teams': '{0} مزید، دوسری ٹیموں کے پاس',
    'She agreed to a call, but her number is not available.':
      'وہ فون پر راضی ہیں، مگر ان کا نمبر دستیاب نہیں۔',
    'Not shown: she has not agreed to be called.': 'نہیں دکھایا گیا: وہ فون پر راضی نہیں۔',
    'Not shown: she was not asked about a call.': 'نہیں دکھایا گیا: ان سے فون کا نہیں پوچھا گیا۔',
    'Her answers': 'ان کے جواب',
    'No answers recorded.': 'کوئی جواب درج نہیں۔',
    'Consent': 'اجازت',
    'Not asked.': 'پوچھا نہیں گیا۔',
    'Referral': 'آگے بھیجنا',
    'Refer to': 'کس کو بھیجیں',
    'Refer case': 'کیس آگے بھیجیں',
    'referred': 'بھیجا گیا',
    'she agreed to this referral': 'وہ اس پر راضی ہیں',
    'she has not agreed to this kind of referral': 'وہ اس پر راضی نہیں',
    'Notes': 'نوٹ',
    'Someone': 'کوئی',
    'No notes yet.': 'ابھی کوئی نوٹ نہیں۔',
    'Add a note': 'نوٹ لکھیں',
    'Save note': 'نوٹ محفوظ کریں',
    'Assign to': 'کس کے ذمے کریں',
    'Assign': 'ذمے کریں',
    '(supervisor)': '(سپروائزر)',
    'Approve closing': 'بند کرنے کی منظوری دیں',
    'Or decline, and say why': 'یا نامنظور کریں، اور وجہ لکھیں',
    'Decline': 'نامنظور',
    'Closing as "{0}" awaits a supervisor\'s approval (asked by {1}).':
      '"{0}" کے طور پر بند کرنا سپروائزر کی منظوری کا منتظر ہے ({1} کی درخواست)۔',
    'Closing as "{0}" awaits a supervisor\'s approval.':
      '"{0}" کے طور پر بند کرنا سپروائزر کی منظوری کا منتظر ہے۔',
    'Reopen the case: why': 'کیس دوبارہ کھولیں: وجہ',
    'Reopen case': 'کیس دوبارہ کھولیں',
    'Close the case': 'کیس بند کریں',
    '(needs approval)': '(منظوری درکار)',
    'Why (kept sealed, like a note)': 'وجہ (نوٹ کی طرح محفوظ رکھی جاتی ہے)',
    'Close case': 'کیس بند کریں',
    'Timeline': 'کیس کی تاریخ',
    'Saving\u2026': 'محفوظ ہو رہا ہے\u2026',
    'Sent to a supervisor for approval. The case stays open until then.':
      'منظوری کے لیے سپروائزر کو بھیجا گیا۔ تب تک کیس کھلا رہے گا۔',
    'Acknowledged. The alerts for this case have stopped.': 'تصدیق ہو گئی۔ اس کیس کے الرٹ رک گئے۔',
    'Claimed. This case is now yours.': 'ذمہ داری لے لی۔ یہ کیس اب آپ کا ہے۔',
    'Write the note first.': 'پہلے نوٹ لکھیں۔',
    'Note saved.': 'نوٹ محفوظ ہو گیا۔',
    'Write why the case is closed.': 'کیس بند کرنے کی وجہ لکھیں۔',
    'Close case {0} as "{1}"?': 'کیس {0} کو "{1}" کے طور پر بند کریں؟',
    'Case closed.': 'کیس بند ہو گیا۔',
    'Assigned to {0}.': '{0} کے ذمے کر دیا۔',
    'Closing approved. Case closed.': 'منظوری دے دی۔ کیس بند ہو گیا۔',
    'Write why the closing is declined.': 'نامنظوری کی وجہ لکھیں۔',
    'Closing declined. The case stays open.': 'نامنظور کر دیا۔ کیس کھلا رہے گا۔',
    'Refer case {0} to {1}? They will receive what she agreed to share.':
      'کیس {0} کو {1} کے پاس بھیجیں؟ انہیں صرف وہی ملے گا جس کی انہوں نے اجازت دی۔',
    'Referred to {0}.': '{0} کو بھیج دیا۔',
    'Write why the case is reopened.': 'کیس دوبارہ کھولنے کی وجہ لکھیں۔',
    'Case reopened.': 'کیس دوبارہ کھل گیا۔',
    // The timeline
    'Reported': 'موصول ہوا',
    'Sent to team': 'ٹیم کو بھیجا گیا',
    'Alert': 'الرٹ',
    'Alert sent': 'الرٹ بھیجا گیا',
    'Alert failing, next person alerted': 'الرٹ نہیں پہنچا، اگلے فرد کو الرٹ',
    'Moved to the always-on team': 'ہمہ وقت ٹیم کو منتقل',
    'Assigned': 'ذمے کیا گیا',
    'Note': 'نوٹ',
    'Closing asked for': 'بند کرنے کی درخواست',
    'Closing approved': 'بند کرنے کی منظوری',
    'Closing declined': 'بند کرنا نامنظور',
    'Reopened': 'دوبارہ کھولا گیا',
    'Sent': 'بھیجا گیا',
    'waiting to be sent': 'بھیجے جانے کا انتظار',
    'retrying': 'دوبارہ کوشش',
    'sent': 'بھیجا گیا',
    'delivered': 'پہنچ گیا',
    'failed': 'نہیں پہنچا',
    'not needed any more': 'اب ضرورت نہیں',
    'may have been sent': 'شاید بھیجا گیا',
    'the case system': 'کیس سسٹم',
    'Sent to {0}: {1}': '{0} کو بھیجا گیا: {1}',
    'by SMS': 'پیغام سے',
    'by USSD': 'یو ایس ایس ڈی سے',
    'Opened': 'کھولا گیا',
    'Escalated': 'آگے بڑھایا گیا',
    // Reports
    'Weeks': 'ہفتے',
    'Show': 'دکھائیں',
    'Download CSV': 'CSV ڈاؤن لوڈ',
    'Open cases by age': 'کھلے کیس، مدت کے لحاظ سے',
    'Fewer than {0} cases are shown as "<{0}": small numbers could point to a woman.':
      '{0} سے کم کیس "<{0}" دکھائے جاتے ہیں: چھوٹی تعداد کسی خاتون کی نشاندہی کر سکتی ہے۔',
    'No cases in these weeks.': 'ان ہفتوں میں کوئی کیس نہیں۔',
    'Dark: median minutes to acknowledge; light: 9 in 10 within.':
      'گہرا: تصدیق کے درمیانی منٹ؛ ہلکا: دس میں سے نو اس کے اندر۔',
    'Minutes to acknowledge per week': 'ہر ہفتے تصدیق کے منٹ',
    '{0} min': '{0} منٹ',
    'Week': 'ہفتہ',
    'Median min': 'درمیانی منٹ',
    '90% within min': '90% منٹ کے اندر',
    'Within SLA': 'مقررہ وقت میں',
    'Under 1 day': 'ایک دن سے کم',
    '1\u20137 days': '1 سے 7 دن',
    '7\u201330 days': '7 سے 30 دن',
    'Over 30 days': '30 دن سے زیادہ'
  };
  var UR_MONTHS = ['جنوری', 'فروری', 'مارچ', 'اپریل', 'مئی', 'جون', 'جولائی', 'اگست', 'ستمبر',
    'اکتوبر', 'نومبر', 'دسمبر'];
  var language = 'en';

  // The string in her language, with {0}, {1} replaced by the arguments.
  function t(text) {
    var out = language === 'ur' && Object.prototype.hasOwnProperty.call(UR, text) ? UR[text] : text;
    for (var i = 1; i < arguments.length; i++)
      out = out.split('{' + (i - 1) + '}').join(String(arguments[i]));
    return out;
  }
  // A code's words in her language ("unsafe_to_contact" -> "Unsafe to contact").
  function tw(code) { return t(words(code)); }

  // Static texts of the page (data-t) and its direction.
  function applyLanguage(lang) {
    language = lang === 'ur' ? 'ur' : 'en';
    document.documentElement.lang = language;
    document.documentElement.dir = language === 'ur' ? 'rtl' : 'ltr';
    var nodes = document.querySelectorAll('[data-t]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = t(nodes[i].getAttribute('data-t'));
    var labelled = document.querySelectorAll('[data-t-label]');
    for (var j = 0; j < labelled.length; j++)
      labelled[j].setAttribute('aria-label', t(labelled[j].getAttribute('data-t-label')));
    var toggle = $('lang');
    if (toggle) {
      toggle.textContent = language === 'ur' ? 'English' : 'اردو';
      toggle.lang = language === 'ur' ? 'en' : 'ur';
    }
    var note = $('r-note');
    if (note) note.textContent = t('Fewer than {0} cases are shown as "<{0}": small numbers could point to a woman.', 5);
  }

  // --- Small helpers

  function words(code) {
    if (!code) return '';
    var s = String(code).replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }
  function label(table, code) {
    return Object.prototype.hasOwnProperty.call(table, code) ? t(table[code]) : tw(code);
  }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function formatTime(ms) {
    if (!ms) return '';
    var d = new Date(ms);
    return d.getDate() + ' ' + (language === 'ur' ? UR_MONTHS : MONTHS)[d.getMonth()] + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  function formatDuration(ms) {
    var total = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    return (h > 0 ? h + ':' + pad(m) : String(m)) + ':' + pad(s);
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function element(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function option(value, text) {
    var o = element('option', null, text);
    o.value = value;
    return o;
  }
  function pair(list, name, value) {
    list.appendChild(element('dt', null, name));
    list.appendChild(element('dd', null, value));
  }
  function show(view) {
    state.view = view;
    $('signin').hidden = view !== 'signin';
    $('queue').hidden = view !== 'queue';
    $('detail').hidden = view !== 'detail';
    $('reports').hidden = view !== 'reports';
    $('signout').hidden = view === 'signin';
    $('reports-link').hidden = view === 'signin';
  }

  // The token lives in sessionStorage only (never localStorage): it is gone when the tab closes.
  function loadToken() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || memoryToken; } catch (e) { return memoryToken; }
  }
  function saveToken(token) {
    memoryToken = token;
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* private mode: the token stays in memory only */ }
  }

  // --- The API

  // done(status, data): status 0 = no answer (offline, timed out).
  function api(method, path, body, done, signingIn) {
    var xhr = new XMLHttpRequest();
    var finished = false;
    function finish(status) {
      if (finished) return;
      finished = true;
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (status === 401 && !signingIn) {
        signOut(expired(data) ? t(EXPIRED_TEXT) : t('You have been signed out. Please sign in again.'));
        return;
      }
      done(status, data);
    }
    xhr.open(method, '/api/v1/' + path, true);
    xhr.timeout = REQUEST_TIMEOUT_MS;
    xhr.setRequestHeader('Authorization', 'Bearer ' + state.token);
    xhr.setRequestHeader('Accept', 'application/json');
    if (body !== null) xhr.setRequestHeader('Content-Type', 'application/json');
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) finish(xhr.status);
    };
    xhr.ontimeout = function () { finish(0); };
    xhr.send(body === null ? null : JSON.stringify(body));
  }

  var EXPIRED_TEXT = 'Your token has expired. Ask your administrator for a new one.';

  function expired(data) {
    return !!(data && data.error === 'token_expired');
  }

  function errorText(status, data) {
    if (status === 0) return t('Cannot reach the server. Check the connection and try again.');
    if (status === 404) return t('This case is not available to you.');
    if (status === 403) return t('You are not allowed to do this.');
    if (status === 503) return t('The server is busy. Try again in a moment.');
    if (data && data.reason) return data.reason;
    return t('Something went wrong (error {0}).', status);
  }

  // --- Signing in and out

  function signIn(token) {
    state.token = token;
    $('signin-button').disabled = true;
    $('signin-error').textContent = '';
    api('GET', 'me', null, function (status, data) {
      $('signin-button').disabled = false;
      if (status === 200 && data) {
        saveToken(token);
        $('token').value = '';
        start(data);
      } else {
        state.token = null;
        saveToken(null);
        $('signin-error').textContent = status === 401 ?
          (expired(data) ? t(EXPIRED_TEXT) : t('That token was not accepted.')) :
          errorText(status, data);
        show('signin');
      }
    }, true);
  }

  function start(me) {
    state.me = me;
    applyLanguage(me.language || language);
    fillSelects(me);
    if (!state.poller) state.poller = window.setInterval(poll, POLL_MS);
    if (!state.ticker) state.ticker = window.setInterval(tick, 1000);
    route();
  }

  // The choices that come from the server, in her language; what she had chosen stays chosen.
  function fillSelects(me) {
    var kept = {};
    var ids = ['outcome', 's-category', 's-assignee', 's-team'];
    for (var k = 0; k < ids.length; k++) kept[ids[k]] = $(ids[k]).value;
    $('who').textContent = me.name + (me.team ? ' \u00b7 ' + words(me.team) : '');
    var select = $('outcome');
    clear(select);
    var approval = me.outcomes_needing_approval || [];
    for (var i = 0; i < me.outcomes.length; i++) {
      var needs = approval.indexOf(me.outcomes[i]) >= 0 && me.role !== 'supervisor';
      select.appendChild(option(me.outcomes[i], tw(me.outcomes[i]) +
        (needs ? ' ' + t('(needs approval)') : '')));
    }
    var category = $('s-category');
    clear(category);
    category.appendChild(option('', t('Any')));
    for (var code in CATEGORY_LABELS)
      if (Object.prototype.hasOwnProperty.call(CATEGORY_LABELS, code))
        category.appendChild(option(code, t(CATEGORY_LABELS[code])));
    var assignee = $('s-assignee');
    clear(assignee);
    assignee.appendChild(option('', t('Anyone')));
    assignee.appendChild(option('none', t('Nobody')));
    var teams = [];
    var people = me.people || [];
    for (var p = 0; p < people.length; p++) {
      assignee.appendChild(option(people[p].name, people[p].name));
      if (teams.indexOf(people[p].team) < 0) teams.push(people[p].team);
    }
    var team = $('s-team');
    clear(team);
    team.appendChild(option('', t('Every team')));
    teams.sort();
    for (var ti = 0; ti < teams.length; ti++) team.appendChild(option(teams[ti], words(teams[ti])));
    $('s-team-field').hidden = me.role !== 'supervisor';
    for (var id in kept) if (kept[id]) $(id).value = kept[id];
    markTab();
  }

  // Her language changed: the page again in it, in place (nothing she typed or chose is lost).
  function rerender() {
    if (state.view === 'queue') refreshQueue(true);
    if (state.view === 'detail' && state.current) {
      renderDetail(state.current, state.receivedAt);
      if (state.timeline) renderTimeline(state.timeline);
    }
    if (state.view === 'reports' && state.report) renderReport(state.report);
  }

  function signOut(message) {
    state.token = null;
    state.me = null;
    state.cases = [];
    state.current = null;
    saveToken(null);
    if (state.poller) window.clearInterval(state.poller);
    if (state.ticker) window.clearInterval(state.ticker);
    state.poller = null;
    state.ticker = null;
    clear($('cases'));
    $('who').textContent = '';
    $('signin-error').textContent = message || '';
    if (window.location.hash) window.location.hash = '';
    show('signin');
    $('token').focus();
  }

  // --- The queue

  function rank(severity) {
    return Object.prototype.hasOwnProperty.call(SEVERITY_RANK, severity) ? SEVERITY_RANK[severity] : 9;
  }
  function byPriority(a, b) {
    var r = rank(a.severity) - rank(b.severity);
    if (r !== 0) return r;
    if (a.created_at !== b.created_at) return a.created_at - b.created_at;
    return a.reference < b.reference ? -1 : 1;
  }

  // Deadlines are kept as local times (the server's clock offset applied), so the countdowns
  // move between polls. The acknowledgement deadline counts from her report and does not move
  // when the ladder climbs; past it the case is overdue. The next alert is the current rung's.
  function localTime(serverMs, serverNow, receivedAt) {
    return receivedAt + (serverMs - serverNow);
  }
  function slaElement(c, serverNow, receivedAt) {
    var e = element('span', 'sla');
    if (c.status !== 'open') {
      e.hidden = true;
      return e;
    }
    if (c.ack_due_at) {
      e.setAttribute('data-due', String(localTime(c.ack_due_at, serverNow, receivedAt)));
    } else if (c.sla_remaining_ms !== null && c.sla_remaining_ms !== undefined) {
      e.setAttribute('data-due', String(receivedAt + c.sla_remaining_ms));
    } else {
      e.hidden = true;
      return e;
    }
    updateSla(e, Date.now());
    return e;
  }
  function nextAlertElement(c, receivedAt) {
    var e = element('span', 'next-alert');
    if (c.status !== 'open' || c.sla_remaining_ms === null || c.sla_remaining_ms === undefined ||
        !c.ack_due_at) {
      e.hidden = true;
      return e;
    }
    e.setAttribute('data-next', String(receivedAt + c.sla_remaining_ms));
    e.setAttribute('data-rung', String(c.rung || 0));
    updateSla(e, Date.now());
    return e;
  }
  function updateSla(e, now) {
    var due = Number(e.getAttribute('data-due'));
    if (due) {
      var left = due - now;
      e.textContent = left >= 0 ? t('Acknowledge within {0}', formatDuration(left)) :
        t('Overdue by {0}', formatDuration(left));
      e.className = left >= 0 ? 'sla' : 'sla overdue';
      return;
    }
    var next = Number(e.getAttribute('data-next'));
    if (next) {
      var rung = Number(e.getAttribute('data-rung')) || 1;
      e.textContent = next - now >= 0 ?
        t('Alert {0} sent; next alert in {1}', rung, formatDuration(next - now)) :
        t('Alert {0} sent; next alert due now', rung);
    }
  }
  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll('[data-due], [data-next]');
    for (var i = 0; i < nodes.length; i++) updateSla(nodes[i], now);
  }

  function loadQueue(done) {
    var collected = [];
    var receivedAt = Date.now();
    function page(after, pages) {
      var path = 'cases?view=' + state.queueView + '&limit=200' + searchQuery() +
        (after ? '&after=' + after : '');
      api('GET', path, null, function (status, data) {
        if (status !== 200 || !data) return done(status, data);
        receivedAt = Date.now();
        for (var i = 0; i < data.cases.length; i++) collected.push(data.cases[i]);
        if (data.next_after && pages + 1 < MAX_PAGES) return page(data.next_after, pages + 1);
        done(200, { cases: collected, receivedAt: receivedAt, now: data.now });
      });
    }
    page(0, 0);
  }

  function searchQuery() {
    var q = '';
    for (var name in state.search)
      if (Object.prototype.hasOwnProperty.call(state.search, name) && state.search[name] !== '')
        q += '&' + name + '=' + encodeURIComponent(state.search[name]);
    return q;
  }
  function markTab() {
    var tabs = document.querySelectorAll('.tab');
    for (var i = 0; i < tabs.length; i++) {
      var on = tabs[i].getAttribute('data-view') === state.queueView;
      tabs[i].className = on ? 'tab current' : 'tab';
      tabs[i].setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  }
  // A date input's day, at local midnight, in milliseconds; the day after for "until".
  function dayStart(value, after) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
    if (!m) return '';
    return String(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (after ? 1 : 0)).getTime());
  }
  function readSearch() {
    state.search = {
      reference: $('s-reference').value.replace(/[^A-Za-z0-9]/g, '').toUpperCase(),
      severity: $('s-severity').value,
      category: $('s-category').value,
      assignee: $('s-assignee').value,
      team: state.me && state.me.role === 'supervisor' ? $('s-team').value : '',
      district: $('s-district').value.replace(/^\s+|\s+$/g, '').toLowerCase(),
      from: dayStart($('s-from').value, false),
      to: dayStart($('s-to').value, true),
      overdue: $('s-overdue').checked ? '1' : ''
    };
  }
  function searching() {
    for (var name in state.search)
      if (Object.prototype.hasOwnProperty.call(state.search, name) && state.search[name] !== '')
        return true;
    return false;
  }

  function renderQueue(cases, receivedAt, serverNow) {
    if (state.queueView === 'closed')
      cases.sort(function (a, b) { return (b.closed_at || 0) - (a.closed_at || 0); });
    else
      cases.sort(byPriority);
    state.cases = cases;
    var list = $('cases');
    clear(list);
    for (var i = 0; i < cases.length; i++) {
      var c = cases[i];
      var item = element('li', 'case sev-' + c.severity);
      item.setAttribute('data-ref', c.reference);
      var link = element('a', 'case-link');
      link.href = '#case/' + c.reference;
      var top = element('span', 'case-top');
      top.appendChild(element('span', 'ref', c.reference));
      top.appendChild(element('span', 'badge sev-' + c.severity, tw(c.severity)));
      top.appendChild(element('span', 'case-status status-' + c.status, label(STATUS_LABELS, c.status)));
      if (c.pending_outcome) top.appendChild(element('span', 'pending', t('Awaiting approval')));
      link.appendChild(top);
      link.appendChild(slaElement(c, serverNow, receivedAt));
      var meta = label(CATEGORY_LABELS, c.category) + ' \u00b7 ' + formatTime(c.created_at);
      if (c.assignee) meta += ' \u00b7 ' + (state.me && c.claimed_by === state.me.id ?
        t('yours') : c.assignee);
      if (state.me && state.me.role === 'supervisor' && c.team) meta += ' \u00b7 ' + words(c.team);
      link.appendChild(element('span', 'meta', meta));
      item.appendChild(link);
      list.appendChild(item);
    }
    $('queue-empty').hidden = cases.length !== 0;
  }

  // `fresh`: the view or search changed; an answer to an earlier request is then dropped.
  function refreshQueue(fresh) {
    if (state.inFlight && !fresh) return;
    var generation = ++state.queueGeneration;
    state.inFlight = true;
    if (!state.cases.length) $('queue-status').textContent = t('Loading\u2026');
    loadQueue(function (status, data) {
      if (generation !== state.queueGeneration) return;
      state.inFlight = false;
      if (status !== 200) {
        $('queue-status').textContent = errorText(status, data) + ' ' + t('Retrying.');
        return;
      }
      renderQueue(data.cases, data.receivedAt, data.now);
      var now = new Date();
      $('queue-status').textContent = t(searching() ? (data.cases.length === 1 ? '{0} case found' :
        '{0} cases found') : (data.cases.length === 1 ? '{0} case' : '{0} cases'), data.cases.length) +
        ' \u00b7 ' + t('updated {0}', pad(now.getHours()) + ':' + pad(now.getMinutes()) + ':' +
        pad(now.getSeconds()));
    });
  }

  // --- One case

  function renderDetail(d, receivedAt) {
    state.current = d;
    state.receivedAt = receivedAt;
    $('d-ref').textContent = d.reference;
    var sev = $('d-severity');
    sev.textContent = tw(d.severity);
    sev.className = 'badge sev-' + d.severity;
    var st = $('d-status');
    st.textContent = label(STATUS_LABELS, d.status);
    st.className = 'case-status status-' + d.status;
    var oldSla = $('d-sla');
    var sla = slaElement(d, d.now, receivedAt);
    sla.id = 'd-sla';
    oldSla.parentNode.replaceChild(sla, oldSla);
    var oldNext = $('d-next');
    var next = nextAlertElement(d, receivedAt);
    next.id = 'd-next';
    oldNext.parentNode.replaceChild(next, oldNext);

    var facts = $('d-facts');
    clear(facts);
    pair(facts, t('Type'), label(CATEGORY_LABELS, d.category));
    pair(facts, t('Received'), formatTime(d.created_at));
    if (d.team) pair(facts, t('Team'), words(d.team));
    if (d.acknowledged_at) pair(facts, t('Acknowledged'), formatTime(d.acknowledged_at) +
      (state.me && d.acknowledged_by === state.me.id ? ' ' + t('by you') : ''));
    if (d.assignee) pair(facts, t('Assigned to'), state.me && d.claimed_by === state.me.id ?
      t('You') : d.assignee);
    if (d.ack_due_at) pair(facts, t('Acknowledge by'), formatTime(d.ack_due_at));
    if (d.closed_at) pair(facts, t('Closed'), formatTime(d.closed_at) + ' \u00b7 ' + tw(d.outcome));

    // Whether and when it is safe to call her, in large type next to the number.
    var safe = $('d-safe');
    clear(safe);
    var safeToCall = '', callTime = '';
    for (var s = 0; s < d.answers.length; s++) {
      if (d.answers[s].key === 'safe_to_call') safeToCall = d.answers[s].value;
      if (d.answers[s].key === 'call_time') callTime = d.answers[s].value;
    }
    if (safeToCall || callTime) {
      var safeText = safeToCall === 'no' ? t('Not safe to call') : safeToCall === 'yes' ?
        t('Safe to call') : '';
      if (callTime) safeText += safeText ? ' \u00b7 ' + tw(callTime) : t('Call: {0}', tw(callTime));
      safe.appendChild(element('span', safeToCall === 'no' ? 'unsafe' : 'safe', safeText));
    }
    safe.hidden = !(safeToCall || callTime);

    var context = $('d-context');
    clear(context);
    var ctx = d.context || {};
    pair(context, t('Language'), ctx.language ? label(LANGUAGE_LABELS, ctx.language) : t('Not chosen'));
    if (ctx.channel) pair(context, t('Came by'), label(CHANNEL_LABELS, ctx.channel.split(':')[0]));
    if (ctx.district) pair(context, t('District'), words(ctx.district));
    var earlier = ctx.earlier_cases || [];
    if (earlier.length || ctx.earlier_cases_elsewhere) {
      context.appendChild(element('dt', null, t('Earlier cases')));
      var dd = element('dd');
      for (var k = 0; k < earlier.length; k++) {
        var link = element('a', 'ref-link', earlier[k].reference);
        link.href = '#case/' + earlier[k].reference;
        var line = element('span', 'earlier');
        line.appendChild(link);
        line.appendChild(document.createTextNode(' ' + formatTime(earlier[k].created_at) + ' \u00b7 ' +
          (earlier[k].outcome ? tw(earlier[k].outcome) : label(STATUS_LABELS, earlier[k].status))));
        dd.appendChild(line);
      }
      if (ctx.earlier_cases_elsewhere)
        dd.appendChild(element('span', 'earlier hint', t(ctx.earlier_cases_elsewhere === 1 ?
          '{0} more with another team' : '{0} more with other teams', ctx.earlier_cases_elsewhere)));
      context.appendChild(dd);
    } else {
      pair(context, t('Earlier cases'), t('None'));
    }

    var phone = $('d-phone');
    clear(phone);
    if (d.phone) {
      var call = element('a', 'phone', d.phone);
      call.href = 'tel:' + d.phone;
      phone.appendChild(call);
    } else {
      var callback = d.consents ? d.consents.callback : undefined;
      phone.appendChild(element('span', 'hint', callback === true ?
        t('She agreed to a call, but her number is not available.') : callback === false ?
        t('Not shown: she has not agreed to be called.') :
        t('Not shown: she was not asked about a call.')));
    }

    var answers = $('d-answers');
    clear(answers);
    for (var i = 0; i < d.answers.length; i++)
      pair(answers, label(ANSWER_LABELS, d.answers[i].key), label(VALUE_LABELS, d.answers[i].value));
    if (!d.answers.length) answers.appendChild(element('dd', 'hint', t('No answers recorded.')));

    var consents = $('d-consents');
    clear(consents);
    var any = false;
    for (var purpose in d.consents) {
      if (!Object.prototype.hasOwnProperty.call(d.consents, purpose)) continue;
      any = true;
      pair(consents, label(CONSENT_LABELS, purpose), d.consents[purpose] ? t('Yes') : t('No'));
    }
    if (!any) consents.appendChild(element('dd', 'hint', t('Not asked.')));

    // Referral: only to a partner whose kind she agreed to in this report.
    var referrals = d.referrals || [];
    $('refer-box').hidden = referrals.length === 0;
    var rlist = $('d-referrals');
    clear(rlist);
    var to = $('refer-to');
    var wanted = to.value;
    clear(to);
    for (var r = 0; r < referrals.length; r++) {
      var ref = referrals[r];
      rlist.appendChild(element('li', ref.referred ? 'referred' : (ref.consented ? '' : 'hint'),
        ref.label + ': ' + (ref.referred ? t('referred') : ref.consented ?
          t('she agreed to this referral') : t('she has not agreed to this kind of referral'))));
      if (ref.consented && !ref.referred) to.appendChild(option(ref.partner, ref.label));
    }
    if (wanted) to.value = wanted;
    $('refer-form').hidden = d.status === 'closed' || to.options.length === 0;

    var notes = $('d-notes');
    clear(notes);
    for (var n = 0; n < d.notes.length; n++) {
      var note = element('li', 'note');
      note.appendChild(element('span', 'meta', (d.notes[n].author || t('Someone')) + ' \u00b7 ' +
        formatTime(d.notes[n].created_at)));
      note.appendChild(element('p', 'note-text', d.notes[n].text));
      notes.appendChild(note);
    }
    if (!d.notes.length) notes.appendChild(element('li', 'hint', t('No notes yet.')));

    var closed = d.status === 'closed';
    var supervisor = state.me && state.me.role === 'supervisor';
    $('ack').disabled = d.status !== 'open';
    $('claim').disabled = closed || (state.me && d.claimed_by === state.me.id);
    // A closing that waits: a supervisor approves or declines; anyone else sees that it waits.
    $('approval').hidden = !d.pending_outcome;
    if (d.pending_outcome) {
      $('approval-text').textContent = d.pending_by ?
        t('Closing as "{0}" awaits a supervisor\'s approval (asked by {1}).', tw(d.pending_outcome),
          d.pending_by) : t('Closing as "{0}" awaits a supervisor\'s approval.', tw(d.pending_outcome));
      $('approval-actions').hidden = !supervisor;
    }
    $('close-form').hidden = closed || (!!d.pending_outcome && !supervisor);
    $('reopen-form').hidden = !closed || !supervisor;
    $('assign-form').hidden = closed;
    var to = $('assign-to');
    var chosen = to.value;
    clear(to);
    var people = (state.me && state.me.people) || [];
    for (var p = 0; p < people.length; p++) {
      if (people[p].team !== d.team && people[p].role !== 'supervisor') continue;
      to.appendChild(option(people[p].name, people[p].name +
        (people[p].role === 'supervisor' ? ' ' + t('(supervisor)') : '')));
    }
    if (chosen) to.value = chosen;
    if (!to.value && d.assignee) to.value = d.assignee;
  }

  var EVENT_TEXT = {
    opened: 'Reported',
    routed: 'Sent to team',
    alerted: 'Alert',
    alert_sent: 'Alert sent',
    alert_failed: 'Alert failing, next person alerted',
    moved: 'Moved to the always-on team',
    acknowledged: 'Acknowledged',
    claimed: 'Claimed',
    assigned: 'Assigned',
    note: 'Note',
    closing_requested: 'Closing asked for',
    closed: 'Closed',
    approved: 'Closing approved',
    declined: 'Closing declined',
    reopened: 'Reopened',
    referred: 'Referred',
    webhook: 'Sent'
  };
  var DELIVERY_TEXT = {
    queued: 'waiting to be sent', retrying: 'retrying', sent: 'sent', delivered: 'delivered',
    failed: 'failed', cancelled: 'not needed any more', unconfirmed: 'may have been sent'
  };

  // "<sink>:<event>" of a webhook event: told to the case system or a partner (by its label).
  function sentTo(detail) {
    var at = String(detail || '').indexOf(':');
    var sink = at < 0 ? detail : detail.slice(0, at);
    var what = at < 0 ? '' : detail.slice(at + 1);
    var name = t('the case system');
    var partners = (state.me && state.me.partners) || [];
    for (var i = 0; i < partners.length; i++)
      if (partners[i].name === sink) name = partners[i].label;
    return t('Sent to {0}: {1}', name, tw(what));
  }

  function renderTimeline(timeline) {
    state.timeline = timeline;
    var list = $('d-timeline');
    clear(list);
    for (var i = 0; i < timeline.events.length; i++) {
      var e = timeline.events[i];
      var item = element('li', 'event ev-' + e.event);
      var head = label(EVENT_TEXT, e.event);
      if (e.event === 'webhook') head = sentTo(e.detail);
      else if (e.event === 'routed' || e.event === 'referred') head += ': ' + (e.event === 'routed' ?
        words(e.detail) : e.detail);
      else if (e.detail && e.event !== 'opened') head += ': ' + (e.event === 'assigned' ? e.detail :
        e.event === 'alerted' || e.event === 'alert_sent' || e.event === 'alert_failed' ||
        e.event === 'moved' ? e.detail : words(e.detail));
      if (e.delivery) head += ' (' + label(DELIVERY_TEXT, e.delivery) + ')';
      item.appendChild(element('span', 'event-what', head));
      var who = formatTime(e.at);
      if (e.event === 'opened' && e.via) who += ' \u00b7 ' + label(CHANNEL_LABELS, e.via);
      if (e.by && e.by !== 'rabta') who += ' \u00b7 ' + e.by + (e.via === 'sms' ? ' ' + t('by SMS') : e.via === 'ussd' ? ' ' + t('by USSD') : '');
      item.appendChild(element('span', 'meta', who));
      if (e.text !== null && e.text !== undefined) item.appendChild(element('p', 'note-text', e.text));
      list.appendChild(item);
    }
  }

  function loadTimeline(reference) {
    state.timelineAt = Date.now();
    state.timelineStale = false;
    api('GET', 'cases/' + encodeURIComponent(reference) + '/timeline', null, function (status, data) {
      if (state.view !== 'detail' || state.wanted !== reference) return;
      if (status === 200 && data) renderTimeline(data);
    });
  }

  function loadDetail(reference, quiet) {
    if (!quiet) {
      $('d-message').textContent = '';
      $('d-ref').textContent = reference;
    }
    api('GET', 'cases/' + encodeURIComponent(reference), null, function (status, data) {
      if (state.view !== 'detail' || state.wanted !== reference) return;  // she moved on
      if (status === 200 && data) {
        renderDetail(data, Date.now());
        // Each read is audited: the timeline is read again when the case is opened, after a
        // step, and every half minute while it stays open, not at every poll.
        if (!quiet || state.timelineStale || Date.now() - state.timelineAt > 30000)
          loadTimeline(reference);
        return;
      }
      if (!quiet || status !== 0) $('d-message').textContent = errorText(status, data);
    });
  }

  function openCase(reference) {
    state.current = null;
    state.wanted = reference;
    show('detail');
    clear($('d-facts'));
    clear($('d-answers'));
    clear($('d-consents'));
    clear($('d-notes'));
    clear($('d-phone'));
    clear($('d-safe'));
    clear($('d-context'));
    clear($('d-timeline'));
    $('approval').hidden = true;
    $('reopen-form').hidden = true;
    $('close-reason').value = '';
    $('reopen-reason').value = '';
    $('decline-reason').value = '';
    $('d-status').textContent = '';
    $('d-severity').textContent = '';
    $('d-sla').hidden = true;
    $('note').value = '';
    loadDetail(reference, false);
  }

  // An action on the current case; the buttons stay disabled until the answer arrives.
  function act(path, body, buttons, doneText) {
    var d = state.current;
    if (!d) return;
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    $('d-message').textContent = t('Saving\u2026');
    api('POST', 'cases/' + encodeURIComponent(d.reference) + '/' + path, body, function (status, data) {
      for (var j = 0; j < buttons.length; j++) buttons[j].disabled = false;
      if (status === 200 || status === 201 || status === 202) {
        $('d-message').textContent = status === 202 ?
          t('Sent to a supervisor for approval. The case stays open until then.') : doneText;
        state.timelineStale = true;
        if (path === 'notes') $('note').value = '';
        if (path === 'close') $('close-reason').value = '';
        if (path === 'reopen') $('reopen-reason').value = '';
        if (path === 'decline') $('decline-reason').value = '';
        loadDetail(d.reference, true);
      } else {
        $('d-message').textContent = errorText(status, data);
        if (state.current) renderDetail(state.current, Date.now());
      }
    });
  }

  // --- Reports: per week and team, drawn as plain SVG (no library), with the CSV download.

  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    return e;
  }
  function shown(v, min) { return v === null || v === undefined ? '<' + min : String(v); }
  function minutes(ms) { return ms === null || ms === undefined ? null : Math.round(ms / 60000); }

  // Bars of the median (dark) and 90th percentile (light) minutes to acknowledge, per week.
  function ackChart(rows, min) {
    var width = 320, height = 140, pad = 24;
    var chart = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, 'class': 'chart', role: 'img',
      'aria-label': t('Minutes to acknowledge per week') });
    var top = 1;
    for (var i = 0; i < rows.length; i++)
      top = Math.max(top, minutes(rows[i].ack_p90_ms) || 0, minutes(rows[i].ack_median_ms) || 0);
    var every = Math.ceil(rows.length / 13);  // at most 13 week labels, so that they never overlap
    var slot = (width - pad) / Math.max(rows.length, 1);
    chart.appendChild(svg('line', { x1: pad, y1: height - pad, x2: width, y2: height - pad, 'class': 'axis' }));
    var label = svg('text', { x: 0, y: 10, 'class': 'chart-label' });
    label.textContent = t('{0} min', top);
    chart.appendChild(label);
    for (var j = 0; j < rows.length; j++) {
      var x = pad + j * slot;
      var p90 = minutes(rows[j].ack_p90_ms), med = minutes(rows[j].ack_median_ms);
      if (p90 !== null) {
        var h90 = (height - 2 * pad) * p90 / top;
        chart.appendChild(svg('rect', { x: x + 2, y: height - pad - h90, width: Math.max(slot - 4, 2), height: h90, 'class': 'bar-p90' }));
      }
      if (med !== null) {
        var h50 = (height - 2 * pad) * med / top;
        chart.appendChild(svg('rect', { x: x + 2, y: height - pad - h50, width: Math.max(slot - 4, 2), height: h50, 'class': 'bar-median' }));
      }
      if (j % every !== 0) continue;
      var wk = svg('text', { x: x + slot / 2, y: height - 6, 'class': 'chart-label', 'text-anchor': 'middle' });
      wk.textContent = String(rows[j].week).slice(-3);
      chart.appendChild(wk);
    }
    return chart;
  }

  function renderReport(r) {
    state.report = r;
    $('r-note').textContent = t('Fewer than {0} cases are shown as "<{0}": small numbers could ' +
      'point to a woman.', r.min_cell);
    var teams = {}, order = [];
    for (var i = 0; i < r.rows.length; i++) {
      var row = r.rows[i];
      if (!teams[row.team]) { teams[row.team] = []; order.push(row.team); }
      teams[row.team].push(row);
    }
    var box = $('r-teams');
    clear(box);
    if (!order.length) box.appendChild(element('p', 'hint', t('No cases in these weeks.')));
    for (var ti = 0; ti < order.length; ti++) {
      var rows = teams[order[ti]];
      box.appendChild(element('h2', null, words(order[ti])));
      var drawn = false;
      for (var dr = 0; dr < rows.length; dr++)
        drawn = drawn || rows[dr].ack_median_ms !== null || rows[dr].ack_p90_ms !== null;
      if (drawn) {
        box.appendChild(ackChart(rows, r.min_cell));
        box.appendChild(element('p', 'hint', t('Dark: median minutes to acknowledge; light: 9 in 10 within.')));
      }
      var table = element('table', 'report');
      var head = element('tr');
      var cols = ['Week', 'Cases', 'Acknowledged', 'Median min', '90% within min', 'Within SLA'];
      var outcomes = state.me ? state.me.outcomes : [];
      for (var c = 0; c < cols.length; c++) head.appendChild(element('th', null, t(cols[c])));
      for (var o = 0; o < outcomes.length; o++) head.appendChild(element('th', null, tw(outcomes[o])));
      table.appendChild(head);
      for (var k = 0; k < rows.length; k++) {
        var w = rows[k], tr = element('tr');
        var weekCell = element('td', null, w.week);
        weekCell.dir = 'ltr';  // "2026-W49" stays in its order in Urdu
        tr.appendChild(weekCell);
        tr.appendChild(element('td', null, shown(w.reported, r.min_cell)));
        tr.appendChild(element('td', null, shown(w.acknowledged, r.min_cell)));
        tr.appendChild(element('td', null, shown(minutes(w.ack_median_ms), r.min_cell)));
        tr.appendChild(element('td', null, shown(minutes(w.ack_p90_ms), r.min_cell)));
        tr.appendChild(element('td', null, w.within_sla === null ? '<' + r.min_cell :
          Math.round(w.within_sla * 100) + '%'));
        for (var q = 0; q < outcomes.length; q++)
          tr.appendChild(element('td', null, shown(w.outcomes[outcomes[q]], r.min_cell)));
        table.appendChild(tr);
      }
      var wrap = element('div', 'table-wrap');
      wrap.appendChild(table);
      box.appendChild(wrap);
    }
    var open = $('r-open');
    clear(open);
    var ages = ['under_1d', '1_7d', '7_30d', 'over_30d'];
    var ageText = { under_1d: 'Under 1 day', '1_7d': '1\u20137 days', '7_30d': '7\u201330 days', over_30d: 'Over 30 days' };
    var h = element('tr');
    h.appendChild(element('th', null, t('Team')));
    for (var a = 0; a < ages.length; a++) h.appendChild(element('th', null, t(ageText[ages[a]])));
    open.appendChild(h);
    var byTeam = {}, teamOrder = [];
    for (var b = 0; b < r.open_by_age.length; b++) {
      var x = r.open_by_age[b];
      if (!byTeam[x.team]) { byTeam[x.team] = {}; teamOrder.push(x.team); }
      byTeam[x.team][x.age] = x.open;
    }
    for (var y = 0; y < teamOrder.length; y++) {
      var line = element('tr');
      line.appendChild(element('td', null, words(teamOrder[y])));
      for (var z = 0; z < ages.length; z++)
        line.appendChild(element('td', null, shown(byTeam[teamOrder[y]][ages[z]], r.min_cell)));
      open.appendChild(line);
    }
  }

  function loadReport() {
    $('r-status').textContent = t('Loading\u2026');
    api('GET', 'reports?weeks=' + $('r-weeks').value, null, function (status, data) {
      if (state.view !== 'reports') return;
      if (status !== 200 || !data) {
        $('r-status').textContent = errorText(status, data);
        return;
      }
      $('r-status').textContent = '';
      renderReport(data);
    });
  }

  // The CSV comes with the token in a header, so it is fetched and then saved from memory.
  function downloadCsv() {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', '/api/v1/reports.csv?weeks=' + $('r-weeks').value, true);
    xhr.timeout = REQUEST_TIMEOUT_MS;
    xhr.setRequestHeader('Authorization', 'Bearer ' + state.token);
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) return;
      if (xhr.status === 401) return signOut(t('You have been signed out. Please sign in again.'));
      if (xhr.status !== 200) {
        $('r-status').textContent = errorText(xhr.status, null);
        return;
      }
      var url = URL.createObjectURL(new Blob([xhr.responseText], { type: 'text/csv' }));
      var link = element('a');
      link.href = url;
      link.download = 'rabta-report.csv';
      document.body.appendChild(link);
      link.click();
      document.body.removeChild(link);
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    };
    xhr.send(null);
  }

  // --- Navigation: #case/REF shows a case, #reports the reports, anything else the queue (the
  // back button works).

  function route() {
    if (!state.me) return;
    var m = /^#case\/([A-Za-z0-9]{1,16})$/.exec(window.location.hash);
    if (m) {
      openCase(m[1].toUpperCase());
    } else if (window.location.hash === '#reports') {
      show('reports');
      loadReport();
    } else {
      show('queue');
      refreshQueue();
    }
  }

  function poll() {
    if (!state.me) return;
    if (state.view === 'queue') refreshQueue();
    else if (state.view === 'detail' && state.wanted) loadDetail(state.wanted, true);
  }

  function init() {
    $('signin-form').onsubmit = function (e) {
      e.preventDefault();
      var token = $('token').value.replace(/^\s+|\s+$/g, '');
      if (token) signIn(token);
      return false;
    };
    $('signout').onclick = function () { signOut(''); };
    $('back').onclick = function () { window.location.hash = ''; };
    $('ack').onclick = function () {
      act('ack', null, [$('ack')], t('Acknowledged. The alerts for this case have stopped.'));
    };
    $('claim').onclick = function () {
      act('claim', null, [$('claim'), $('ack')], t('Claimed. This case is now yours.'));
    };
    $('note-form').onsubmit = function (e) {
      e.preventDefault();
      var text = $('note').value;
      if (!text.replace(/\s+/g, '')) {
        $('d-message').textContent = t('Write the note first.');
        return false;
      }
      act('notes', { text: text }, [$('note-button')], t('Note saved.'));
      return false;
    };
    $('close-form').onsubmit = function (e) {
      e.preventDefault();
      var outcome = $('outcome').value;
      var reason = $('close-reason').value;
      var d = state.current;
      if (!d || !outcome) return false;
      if (!reason.replace(/\s+/g, '')) {
        $('d-message').textContent = t('Write why the case is closed.');
        return false;
      }
      if (!window.confirm(t('Close case {0} as "{1}"?', d.reference, tw(outcome)))) return false;
      act('close', { outcome: outcome, reason: reason }, [$('close-button')], t('Case closed.'));
      return false;
    };
    $('assign-form').onsubmit = function (e) {
      e.preventDefault();
      var to = $('assign-to').value;
      if (!to) return false;
      act('assign', { to: to }, [$('assign-button')], t('Assigned to {0}.', to));
      return false;
    };
    $('approve').onclick = function () {
      act('approve', null, [$('approve'), $('decline-button')], t('Closing approved. Case closed.'));
    };
    $('decline-form').onsubmit = function (e) {
      e.preventDefault();
      var reason = $('decline-reason').value;
      if (!reason.replace(/\s+/g, '')) {
        $('d-message').textContent = t('Write why the closing is declined.');
        return false;
      }
      act('decline', { reason: reason }, [$('approve'), $('decline-button')],
        t('Closing declined. The case stays open.'));
      return false;
    };
    $('refer-form').onsubmit = function (e) {
      e.preventDefault();
      var partner = $('refer-to').value;
      var d = state.current;
      if (!d || !partner) return false;
      var label = $('refer-to').options[$('refer-to').selectedIndex].text;
      if (!window.confirm(t('Refer case {0} to {1}? They will receive what she agreed to share.',
        d.reference, label))) return false;
      act('refer', { partner: partner }, [$('refer-button')], t('Referred to {0}.', label));
      return false;
    };
    $('reopen-form').onsubmit = function (e) {
      e.preventDefault();
      var reason = $('reopen-reason').value;
      if (!reason.replace(/\s+/g, '')) {
        $('d-message').textContent = t('Write why the case is reopened.');
        return false;
      }
      act('reopen', { reason: reason }, [$('reopen-button')], t('Case reopened.'));
      return false;
    };
    var tabs = document.querySelectorAll('.tab');
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].onclick = function () {
        state.queueView = this.getAttribute('data-view');
        markTab();
        state.cases = [];
        clear($('cases'));
        refreshQueue(true);
      };
    }
    $('search-form').onsubmit = function (e) {
      e.preventDefault();
      readSearch();
      state.cases = [];
      clear($('cases'));
      refreshQueue(true);
      return false;
    };
    $('search-clear').onclick = function () {
      $('search-form').reset();
      state.search = {};
      state.cases = [];
      clear($('cases'));
      refreshQueue(true);
    };
    $('reports-link').onclick = function () { window.location.hash = '#reports'; };
    $('lang').onclick = function () {
      var next = language === 'ur' ? 'en' : 'ur';
      applyLanguage(next);
      if (state.me) {
        state.me.language = next;
        fillSelects(state.me);
        rerender();
        api('POST', 'me/language', { language: next }, function () {});
      }
    };
    $('reports-back').onclick = function () { window.location.hash = ''; };
    $('reports-form').onsubmit = function (e) {
      e.preventDefault();
      loadReport();
      return false;
    };
    $('r-csv').onclick = downloadCsv;
    window.onhashchange = route;

    var token = loadToken();
    if (token) {
      show('queue');
      signIn(token);
    } else {
      show('signin');
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
