package clock

import "time"

// CST is China Standard Time, UTC+8 all year: the zone of WeChat Pay's calendar. Its
// times are written with +08:00 (success_time, time_expire, a notification's
// create_time), its days are Beijing days (a trade bill's bill_date, the day in a
// transaction id), and so are the bundle's bill days and the dates it shows merchants.
// It lives here, beside "now", because every package that turns business time into a
// day needs it and this one imports nothing. A fixed offset rather than
// time.LoadLocation("Asia/Shanghai"): Lambda and SCF images may carry no tzdata, and
// China has kept UTC+8 without daylight saving since 1991.
var CST = time.FixedZone("CST", 8*3600)
