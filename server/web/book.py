"""``/book/<hall-id>``: book an appointment from the phone, or cancel one.

Lists the services that take appointments (``GET /api/v1/halls/<hall-id>``:
each has ``booking: {first, last}``), the free slots of the chosen day
(``GET .../slots``), books with name and phone (``POST .../bookings``) and
shows the booking code with a calendar file (``.ics``) to add; a booking
code can be cancelled (``POST .../bookings/<code>/cancel``). The rules are
the hall's booking rules (server/features/booking.py); refusals show the
server's message, Chinese first.
"""

from __future__ import annotations

from html import escape

from server.web.take import STYLE, phone_page

__all__ = ["book_page"]

_STYLE = STYLE + """
select,input[type=date],input[type=text]{width:100%;font-size:22px;padding:10px;
border:2px solid #889;border-radius:10px;background:#fff}
h2{font-size:22px;margin:22px 0 6px}
#done{display:none;background:#E8F5E9;border-radius:10px;padding:14px;margin-top:14px}
#code{font-size:40px;font-weight:700;letter-spacing:4px;font-variant-numeric:tabular-nums}
a.ics{display:block;text-align:center;margin-top:10px;font-size:20px;padding:14px;
border:2px solid #0B4F9C;border-radius:10px;color:#0B4F9C;text-decoration:none}
"""

_SCRIPT = """
(function(){
var hall=document.body.getAttribute('data-hall'),api='/api/v1/halls/'+encodeURIComponent(hall);
function $(i){return document.getElementById(i);}
function el(t,c,x){var e=document.createElement(t);if(c)e.className=c;
if(x!==undefined)e.textContent=x;return e;}
function json(r){return r.json().then(function(b){return [r.status,b];});}
var windows={};
function slots(){var s=$('service').value,d=$('date').value,box=$('slots');
box.textContent='…';fetch(api+'/slots?service='+encodeURIComponent(s)+'&date='+d).then(json)
.then(function(x){box.textContent='';if(x[0]!==200){box.textContent=x[1].message;return;}
x[1].slots.forEach(function(t,i){var l=el('label','svc'),r=el('input');r.type='radio';
r.name='slot';r.value=t.slot;r.disabled=t.free<1;l.appendChild(r);
l.appendChild(el('span','',t.start+'-'+t.end+' '));
l.appendChild(el('span','en','余 '+t.free+' · '+t.free+' free'));box.appendChild(l);});
var first=box.querySelector('input:not([disabled])');if(first)first.checked=true;});}
function pick(){var w=windows[$('service').value];if(!w)return;$('date').min=w.first;
$('date').max=w.last;if(!$('date').value||$('date').value<w.first||$('date').value>w.last)
$('date').value=w.first;slots();}
fetch(api).then(function(r){return r.json();}).then(function(h){var sel=$('service');
sel.textContent='';h.services.forEach(function(s){if(!s.booking)return;windows[s.id]=s.booking;
var o=el('option','',s.name+' '+s.name_en);o.value=s.id;sel.appendChild(o);});
if(!sel.options.length){$('msg').textContent='本大厅暂无可预约业务 no service takes bookings';
return;}pick();});
$('service').addEventListener('change',pick);$('date').addEventListener('change',slots);
$('book').addEventListener('submit',function(ev){ev.preventDefault();
var slot=document.querySelector('input[name=slot]:checked');
if(!slot){$('msg').textContent='请选择时段 choose a time';return;}
$('msg').textContent='…';fetch(api+'/bookings',{method:'POST',headers:{'Content-Type':
'application/json'},body:JSON.stringify({service:$('service').value,slot:slot.value,
name:$('name').value,phone:$('phone').value})}).then(json).then(function(x){
if(x[0]!==201){$('msg').textContent=x[1].message||x[1].code;return;}
$('msg').textContent='';$('code').textContent=x[1].booking.code;
$('when').textContent=x[1].booking.slot.replace('T',' ');$('ics').href=x[1].ics;
$('done').style.display='block';$('cancel-code').value=x[1].booking.code;slots();});});
$('cancel').addEventListener('submit',function(ev){ev.preventDefault();
var code=$('cancel-code').value.trim();if(!code)return;
fetch(api+'/bookings/'+encodeURIComponent(code)+'/cancel',{method:'POST'}).then(json)
.then(function(x){$('cancel-msg').textContent=x[0]===200?'已取消 '+x[1].booking.code+
' · cancelled':(x[1].message||x[1].code);if(x[0]===200){$('done').style.display='none';
slots();}});});
})();
"""


def book_page(hall_name: str, hall_id: str) -> str:
    """The booking page of one hall."""
    body = (
        f"<header>{escape(hall_name)}<div class='en'>预约 Book an appointment</div></header>"
        "<main><form id='book'>"
        "<p><label for='service'>业务 <span class='en'>Service</span></label></p>"
        "<select id='service'></select>"
        "<p><label for='date'>日期 <span class='en'>Day</span></label></p>"
        "<input id='date' type='date'>"
        "<p>时段 <span class='en'>Time</span></p><div id='slots'></div>"
        "<p><label for='name'>姓名 <span class='en'>Name</span></label></p>"
        "<input id='name' type='text' autocomplete='name' required maxlength='40'>"
        "<p><label for='phone'>手机号 <span class='en'>Mobile number</span></label></p>"
        "<input id='phone' type='tel' inputmode='tel' autocomplete='tel' required "
        "maxlength='20'>"
        "<p class='en'>姓名和手机号只以加密摘要保存。Your name and number are kept only as "
        "keyed hashes.</p>"
        "<button type='submit'>预约 Book</button>"
        "<div id='msg' role='alert'></div></form>"
        "<div id='done' role='status'><div>预约成功，请记下预约码 <span class='en'>Booked; "
        "keep your booking code</span></div><div id='code'></div><div id='when'></div>"
        "<a id='ics' class='ics' href='#'>加入日历 (.ics) · Add to calendar</a></div>"
        "<h2>取消预约 <span class='en'>Cancel a booking</span></h2>"
        "<form id='cancel'><input id='cancel-code' type='text' maxlength='16' "
        "placeholder='预约码 booking code' autocapitalize='characters'>"
        "<button type='submit'>取消预约 Cancel</button>"
        "<div id='cancel-msg' role='status'></div></form>"
        "<noscript>此页需要 JavaScript。This page needs JavaScript.</noscript></main>"
    )
    return phone_page("预约 Book", hall_name, hall_id, body, _STYLE, _SCRIPT)
