"""``/take/<hall-id>``: take a number by phone (the hall's QR at the entrance).

The page lists the hall's services from ``GET /api/v1/halls/<hall-id>``,
asks for a phone number and posts ``{"service", "phone"}`` to
``POST /api/v1/halls/<hall-id>/tickets``; on 201 it opens the ticket's live
page ``/t/<check>``. A refusal's message is shown as the server wrote it
(Chinese first, English second). Self-contained: inline style and script,
allowed by hash (server/web/headers.py), large type for a 360-px phone.
"""

from __future__ import annotations

from html import escape

__all__ = ["take_page", "phone_page", "STYLE"]

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:20px/1.4 "Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
background:#f4f6f9;color:#111}
header{background:#0B4F9C;color:#fff;padding:14px 16px;font-size:22px}
main{max-width:480px;margin:0 auto;padding:14px}
.en{color:#444;font-size:16px}
label.svc{display:block;background:#fff;border:2px solid #ccd;border-radius:10px;
padding:12px;margin:8px 0;min-height:44px}
label.svc input{width:24px;height:24px;vertical-align:middle;margin-right:8px}
.wait{color:#333;font-size:16px}
input[type=tel]{width:100%;box-sizing:border-box;font-size:24px;padding:12px;border:2px solid
#889;border-radius:10px}
button{width:100%;min-height:60px;margin-top:16px;font-size:24px;background:#0B4F9C;color:#fff;
border:0;border-radius:10px}
#msg{margin-top:14px;font-size:20px;color:#B00020;min-height:1.4em}
"""

_SCRIPT = """
(function(){
var hall=document.body.getAttribute('data-hall');
var box=document.getElementById('services'),msg=document.getElementById('msg');
function el(t,c,x){var e=document.createElement(t);if(c)e.className=c;
if(x!==undefined)e.textContent=x;return e;}
fetch('/api/v1/halls/'+encodeURIComponent(hall)).then(function(r){return r.json();})
.then(function(h){box.textContent='';h.services.forEach(function(s,i){
var l=el('label','svc'),r=el('input');r.type='radio';r.name='service';r.value=s.id;
if(i===0)r.checked=true;l.appendChild(r);l.appendChild(el('span','',s.name+' '));
l.appendChild(el('span','en',s.name_en));l.appendChild(el('div','wait',
'等候 '+s.waiting+' 人 · waiting '+s.waiting));box.appendChild(l);});})
.catch(function(){msg.textContent='无法加载业务列表 cannot load the services';});
document.getElementById('take').addEventListener('submit',function(ev){
ev.preventDefault();var s=document.querySelector('input[name=service]:checked');
var phone=document.getElementById('phone').value;
if(!s){msg.textContent='请选择业务 choose a service';return;}
msg.textContent='…';
fetch('/api/v1/halls/'+encodeURIComponent(hall)+'/tickets',{method:'POST',
headers:{'Content-Type':'application/json'},body:JSON.stringify({service:s.value,phone:phone})})
.then(function(r){return r.json().then(function(b){return [r.status,b];});})
.then(function(x){if(x[0]===201){location.href='/t/'+encodeURIComponent(x[1].check);}
else{msg.textContent=x[1].message||x[1].code;}})
.catch(function(){msg.textContent='网络错误，请重试 network error; try again';});});
})();
"""


def phone_page(title: str, hall_name: str, hall_id: str, body: str, style: str,
               script: str) -> str:
    """A phone page of one hall: the shared head, ``body``, one inline script."""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · {escape(hall_name)}</title><style>{style}</style></head>"
        f"<body data-hall=\"{escape(hall_id)}\">{body}<script>{script}</script></body></html>"
    )


def take_page(hall_name: str, hall_id: str) -> str:
    """The take-a-number page of one hall."""
    body = (
        f"<header>{escape(hall_name)}<div class='en'>远程取号 Take a number</div></header>"
        "<main><form id='take'>"
        "<p>请选择业务 <span class='en'>Choose a service</span></p>"
        "<div id='services'>加载中… <span class='en'>loading…</span></div>"
        "<p><label for='phone'>手机号 <span class='en'>Mobile number</span></label></p>"
        "<input id='phone' name='phone' type='tel' inputmode='tel' autocomplete='tel' "
        "required maxlength='20'>"
        "<p class='en'>号码仅用于叫号提醒，号票结束后即删除。Your number is used only for "
        "call reminders and erased when the ticket ends.</p>"
        "<button type='submit'>取号 Take a number</button>"
        "<div id='msg' role='alert'></div></form>"
        "<noscript>此页需要 JavaScript。This page needs JavaScript.</noscript></main>"
    )
    return phone_page("取号 Take a number", hall_name, hall_id, body, STYLE, _SCRIPT)
