"""``/t/<check>``: the citizen's live status page of one ticket.

Number, service, zone, people ahead and the wait; the moment it is called,
"请到 N 号窗口 / Please go to counter N" in large type, with a sound and a
vibration where the browser allows (sound needs one tap first: browsers
block audio until the user acts, so the page offers 开启提醒). The page keeps
a websocket to ``/api/v1/tickets/<check>/live`` (server/web/live.py), which
carries that one ticket and nothing else, and redraws without reloading;
while the socket is down it polls ``GET /api/v1/tickets/<check>``. Without
JavaScript the server-rendered page refreshes itself every 15 s.

A remote ticket that is not present yet shows 我已到达 (``POST .../arrived``).
Bilingual (Chinese first), large type for a 360-px phone, and a
high-contrast mode (the button, remembered on the phone, or the system's
``prefers-contrast: more``). No personal data is on the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["status_page", "STATUS_TEXT"]

#: Status -> (Chinese, English), as the page shows it.
STATUS_TEXT = {
    "waiting": ("等候中", "Waiting"),
    "called": ("请前往窗口", "Called: please go to the counter"),
    "serving": ("办理中", "Being served"),
    "done": ("已办结", "Done"),
    "no_show": ("已过号", "Missed (no-show)"),
    "cancelled": ("已取消", "Cancelled"),
}

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:20px/1.4 "Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
background:#f4f6f9;color:#111}
header{background:#0B4F9C;color:#fff;padding:12px 16px;font-size:20px}
main{max-width:480px;margin:0 auto;padding:12px}
.card{background:#fff;border-radius:12px;padding:16px;box-shadow:0 1px 4px #0002}
.en{color:#444;font-size:16px}
#number{font-size:72px;font-weight:700;text-align:center;font-variant-numeric:tabular-nums;
color:#0B4F9C;line-height:1.1}
#service,#zone{text-align:center}
dl{display:grid;grid-template-columns:auto 1fr;gap:8px 12px;margin:14px 0 0;font-size:22px}
dt{color:#444}dd{margin:0;font-weight:700;font-variant-numeric:tabular-nums}
#call{display:none;margin-top:14px;padding:18px 12px;border-radius:12px;background:#1B5E20;
color:#fff;text-align:center;font-size:34px;font-weight:700}
#call .en{color:#fff;font-size:22px;font-weight:400}
body.called #call{display:block}
body.flash #call{animation:flash 1s 4}
@keyframes flash{50%{background:#FFC400;color:#000}}
button{width:100%;min-height:56px;margin-top:12px;font-size:20px;border-radius:10px;
border:2px solid #0B4F9C;background:#fff;color:#0B4F9C}
#arrive{background:#0B4F9C;color:#fff;font-size:24px;display:none}
body.absent #arrive{display:block}
footer{color:#555;font-size:14px;text-align:center;margin-top:12px}
body.contrast,body.contrast .card{background:#000;color:#fff}
body.contrast .en,body.contrast dt,body.contrast footer{color:#fff}
body.contrast #number{color:#FFEB3B}
body.contrast header{background:#000;border-bottom:2px solid #fff}
body.contrast button{background:#000;color:#FFEB3B;border-color:#FFEB3B}
body.contrast #call{background:#FFEB3B;color:#000}
body.contrast #call .en{color:#000}
@media (prefers-contrast:more){body{background:#000;color:#fff}.card{background:#000}
.en,dt{color:#fff}#number{color:#FFEB3B}}
"""

_SCRIPT = """
(function(){
var b=document.body,check=b.getAttribute('data-check'),api='/api/v1/tickets/'+
encodeURIComponent(check),was=b.getAttribute('data-status'),audio=null,tries=0,poller=null;
var ST={waiting:['等候中','Waiting'],called:['请前往窗口','Called: please go to the counter'],
serving:['办理中','Being served'],done:['已办结','Done'],no_show:['已过号','Missed (no-show)'],
cancelled:['已取消','Cancelled']};
function $(i){return document.getElementById(i);}
function set(i,zh,en){var e=$(i);if(!e)return;e.textContent=zh;if(en!==undefined){
var s=document.createElement('span');s.className='en';s.textContent=' '+en;e.appendChild(s);}}
function row(i,on){var e=$(i);if(e)e.style.display=on?'':'none';
var d=$(i+'-label');if(d)d.style.display=on?'':'none';}
function show(t){
set('number',t.number);set('service',t.service_name||t.service,t.service_name_en||'');
set('zone',t.zone||'');var st=ST[t.status]||[t.status,''];set('status',st[0],st[1]);
var waiting=t.status==='waiting';row('ahead',waiting);row('wait',waiting);
if(waiting){set('ahead',t.ahead+' 人',t.ahead+' ahead');
if(t.wait)set('wait',t.wait.zh,t.wait.en);}
var steps=t.route?t.route.length:0;row('step',steps>0);
if(steps){set('step',(t.route_name?t.route_name+' · ':'')+'第 '+(t.step+1)+' 步 / 共 '+
steps+' 步','Step '+(t.step+1)+' of '+steps);}
var whole=waiting&&steps>0&&typeof t.eta_route_s==='number';row('route-wait',whole);
if(whole){var m=Math.max(1,Math.round(t.eta_route_s/60));
set('route-wait','全程约 '+m+' 分钟','whole case about '+m+' min');}
var called=t.status==='called'||t.status==='serving';
b.classList.toggle('called',called);
if(called&&t.counter!==null){$('call-zh').textContent='请到 '+t.counter+' 号窗口';
$('call-en').textContent='Please go to counter '+t.counter+(t.counter_name?' ('+
t.counter_name+')':'');}
b.classList.toggle('absent',waiting&&t.remote===true&&t.present===false);
b.setAttribute('data-status',t.status);
if(t.status==='called'&&was!=='called')ring();was=t.status;}
function ring(){b.classList.remove('flash');void b.offsetWidth;b.classList.add('flash');
try{if(navigator.vibrate)navigator.vibrate([400,150,400,150,400]);}catch(e){}
if(audio){try{[0,0.5,1].forEach(function(d){var o=audio.createOscillator(),
g=audio.createGain();o.frequency.value=880;o.connect(g);g.connect(audio.destination);
g.gain.value=0.3;o.start(audio.currentTime+d);o.stop(audio.currentTime+d+0.3);});}
catch(e){}}}
function poll(){fetch(api).then(function(r){return r.ok?r.json():null;})
.then(function(t){if(t&&t.number)show(t);}).catch(function(){});}
function live(s){$('live').setAttribute('data-state',s);$('live').textContent=s==='live'?
'实时更新 · Live':'正在重新连接… · Reconnecting…';}
function connect(){var ws;try{ws=new WebSocket((location.protocol==='https:'?'wss://':
'ws://')+location.host+api+'/live');}catch(e){return later();}
ws.onopen=function(){tries=0;live('live');if(poller){clearInterval(poller);poller=null;}};
ws.onmessage=function(e){var m=JSON.parse(e.data);if(m.type==='ticket')show(m.ticket);
else if(m.type==='gone'){set('status','号票已结束','This ticket has ended');}};
ws.onclose=function(){live('offline');later();};}
function later(){tries++;if(!poller)poller=setInterval(poll,5000);
setTimeout(connect,Math.min(15000,1000*tries));}
$('alerts').addEventListener('click',function(){try{audio=audio||new (window.AudioContext||
window.webkitAudioContext)();audio.resume();}catch(e){}
try{if(navigator.vibrate)navigator.vibrate(60);}catch(e){}
$('alerts').textContent='提醒已开启 · Alerts on';});
$('contrast').addEventListener('click',function(){var on=!b.classList.contains('contrast');
b.classList.toggle('contrast',on);try{localStorage.setItem('qhall-contrast',on?'1':'');}
catch(e){}});
try{if(localStorage.getItem('qhall-contrast'))b.classList.add('contrast');}catch(e){}
$('arrive').addEventListener('click',function(){fetch(api+'/arrived',{method:'POST'})
.then(function(r){return r.json();}).then(function(t){if(t.number)show(t);
else $('note').textContent=t.message||t.code;}).catch(function(){});});
$('refresh-note').textContent='';live('offline');connect();
})();
"""


def _route_text(ticket: dict[str, Any], waiting: bool) -> tuple[str, str, str, str]:
    """A joint-approval case's step ("第 2 步 / 共 4 步") and, while it waits,
    the estimate for the whole remaining route; empty for other tickets."""
    route = ticket.get("route") or []
    if not route:
        return "", "", "", ""
    step, total = int(ticket.get("step") or 0) + 1, len(route)
    name = str(ticket.get("route_name") or "")
    step_zh = f"{name + ' · ' if name else ''}第 {step} 步 / 共 {total} 步"
    step_en = f"Step {step} of {total}"
    whole = ticket.get("eta_route_s")
    if not waiting or not isinstance(whole, int):
        return step_zh, step_en, "", ""
    minutes = max(1, round(whole / 60))
    return step_zh, step_en, f"全程约 {minutes} 分钟", f"whole case about {minutes} min"


def status_page(hall_name: str, ticket: dict[str, Any]) -> str:
    """The page of one ticket (its API object), drawn as it is now."""
    status = str(ticket.get("status", ""))
    zh, en = STATUS_TEXT.get(status, (status, ""))
    waiting = status == "waiting"
    called = status in ("called", "serving")
    counter = ticket.get("counter")
    wait = ticket.get("wait") or {}
    hide = "" if waiting else " style='display:none'"
    classes = " ".join(c for c, on in (
        ("called", called),
        ("absent", waiting and ticket.get("remote") is True and ticket.get("present") is False),
    ) if on)
    ahead = ticket.get("ahead", 0)
    counter_name = ticket.get("counter_name") or ""
    step_zh, step_en, whole_zh, whole_en = _route_text(ticket, waiting)
    no_step = "" if step_zh else " style='display:none'"
    no_whole = "" if whole_zh else " style='display:none'"
    body = (
        f"<header>{escape(hall_name)}</header><main><div class='card'>"
        f"<div id='number'>{escape(str(ticket.get('number', '')))}</div>"
        f"<div id='service'>{escape(str(ticket.get('service_name') or ''))}"
        f"<span class='en'> {escape(str(ticket.get('service_name_en') or ''))}</span></div>"
        f"<div id='zone' class='en'>{escape(str(ticket.get('zone') or ''))}</div>"
        "<div id='call' role='alert' aria-live='assertive'>"
        f"<div id='call-zh'>请到 {escape(str(counter))} 号窗口</div>"
        f"<div id='call-en' class='en'>Please go to counter {escape(str(counter))}"
        f"{' (' + escape(counter_name) + ')' if counter_name else ''}</div></div>"
        "<dl aria-live='polite'>"
        f"<dt>状态 <span class='en'>Status</span></dt><dd id='status'>{escape(zh)}"
        f"<span class='en'> {escape(en)}</span></dd>"
        f"<dt id='ahead-label'{hide}>前面 <span class='en'>Ahead</span></dt>"
        f"<dd id='ahead'{hide}>{escape(str(ahead))} 人<span class='en'> {escape(str(ahead))} "
        "ahead</span></dd>"
        f"<dt id='wait-label'{hide}>预计 <span class='en'>Wait</span></dt>"
        f"<dd id='wait'{hide}>{escape(str(wait.get('zh', '')))}"
        f"<span class='en'> {escape(str(wait.get('en', '')))}</span></dd>"
        f"<dt id='step-label'{no_step}>步骤 <span class='en'>Step</span></dt>"
        f"<dd id='step'{no_step}>{escape(step_zh)}<span class='en'> {escape(step_en)}</span></dd>"
        f"<dt id='route-wait-label'{no_whole}>全程 <span class='en'>Whole case</span></dt>"
        f"<dd id='route-wait'{no_whole}>{escape(whole_zh)}"
        f"<span class='en'> {escape(whole_en)}</span></dd>"
        "</dl>"
        "<button id='arrive' type='button'>我已到达 · I am here</button>"
        "<div id='note' class='en' role='status'></div></div>"
        "<button id='alerts' type='button'>开启声音与振动提醒 · Turn on sound &amp; vibration"
        "</button>"
        "<button id='contrast' type='button'>高对比度 · High contrast</button>"
        "<footer><span id='live'></span><span id='refresh-note'>本页每 15 秒自动刷新 · "
        "This page refreshes every 15 s</span></footer></main>"
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<noscript><meta http-equiv="refresh" content="15"></noscript>'
        f"<title>{escape(str(ticket.get('number', '')))} · {escape(hall_name)}</title>"
        f"<style>{_STYLE}</style></head>"
        f"<body class='{classes}' data-check=\"{escape(str(ticket.get('check', '')))}\" "
        f"data-status=\"{escape(status)}\">{body}<script>{_SCRIPT}</script></body></html>"
    )
