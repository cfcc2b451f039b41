#!/usr/bin/perl

# The gateway side by side with plain nginx, in one run on one machine:
#
#   baseline      proxy_pass with a static Authorization header: the gateway
#                 if validation and signing were free
#   njs peer      the same proxy, signed per request by bench/cos_sign.js
#   gateway XML   ci_jobs
#   gateway JSON  ci_jobs with ci_jobs_json on
#   cache HIT     ci_jobs_cache, an answer held in the zone
#   HIT token     the same with ci_jobs_access token: an access token
#                 (minted by jsonwebtoken) checked before each HIT
#   return 200    nginx answering the same body from its configuration
#
# and, as production has it, over TLS to an upstream with a certificate for
# the bucket's host name, signed by the harness's test CA:
#
#   https baseline  proxy_pass https:// through an upstream {} block with
#                   keepalive, TLS verified, sessions reused, the static
#                   Authorization header
#   https gateway   ci_jobs_pass https://127.0.0.1:PORT, the default's
#                   shape: no upstream {} block, the module's own pool
#                   (ci_jobs_keepalive's default)
#   https gw block  ci_jobs_pass https://<an upstream {} block with keepalive>
#
# then across a WAN: bench/relay.pl between the proxies and the HTTPS
# upstream, BENCH_WAN_MS (10) milliseconds each way, at BENCH_WAN_CONNS (16)
# connections, for latency:
#
#   wan baseline    https baseline's proxy_pass through the relay
#   wan gateway     https gateway's shape through the relay
#   wan gw no pool  the same with ci_jobs_keepalive 0: a new connection per
#                   request, its TLS session resumed
#
# and a polling crowd: BENCH_CROWD_CONNS (256) connections polling
# BENCH_CROWD_JOBS (32) running jobs, each answer a job still Running:
#
#   crowd proxy_pass   plain proxy_pass, the static Authorization header
#   crowd proxy_cache  the same behind proxy_cache, proxy_cache_lock on,
#                      proxy_cache_valid 200 1s
#   crowd gateway      ci_jobs_cache with ci_jobs_cache_valid_pending 1s
#
# with the number of requests each let through to the upstream.
#
# The proxies run in one nginx (worker_processes 1), the upstream they share
# in another (worker_processes 1, the seed answer from memory, plain and
# TLS, keepalive), wrk with one thread.  Each figure is the median of
# BENCH_RUNS runs of BENCH_TIME seconds; the scenarios take turns so that
# drift hits them all.  A ratio is that of the medians, then the lowest
# and the highest of the ratios within one run, so that a ratio inside
# the machine's noise shows as one.  Before any load the njs peer's
# signature and each gateway shape's (plain, HTTPS by address, HTTPS by
# block, HTTPS without the pool) are checked by the CI emulator, and every
# scenario's answer is checked against the seed.  BENCH_WAN_MS=0 leaves
# the WAN out.  BENCH_SCENARIOS, names separated by commas ("cache
# HIT,HIT token,return 200"), runs only those of the first table, without
# the WAN and the crowd.
#
#   perl bench/run.pl            (make bench)
#   perl bench/run.pl profile    (make bench-profile)
#   perl bench/run.pl strace     (make bench-strace)
#
# Prints the table; writes it, the data, a plot and the proxies' error log
# to build/bench/.  With "profile", the proxies' nginx runs in one process
# under callgrind instead, and the instructions each scenario (the WAN
# ones aside) costs a request are printed (counts, not seconds: the same on
# a busy machine), with callgrind's files kept in build/bench/ for
# callgrind_annotate.  With "strace", the system calls the proxies' worker
# makes per request in each scenario (strace -c -f on the worker, 16
# connections), by name.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;
use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $SECONDS = $ENV{BENCH_TIME} || 3;
my $RUNS = $ENV{BENCH_RUNS} || 5;
my @CONNS = split /,/, ($ENV{BENCH_CONNS} || '1,16,64');
my $WAN_MS = $ENV{BENCH_WAN_MS} // 10;
my @WAN_CONNS = split /,/, ($ENV{BENCH_WAN_CONNS} || '16');
my $NJS = '/usr/lib/nginx/modules/ngx_http_js_module.so';
my $OUT = "$CiJobsTest::ROOT/build/bench";
my $PROFILE = ($ARGV[0] // '') eq 'profile';
my $STRACE = ($ARGV[0] // '') eq 'strace';
my $CROWD_CONNS = $ENV{BENCH_CROWD_CONNS} || 256;
my $CROWD_JOBS = $ENV{BENCH_CROWD_JOBS} || 32;
my ($load_start) = CiJobsTest::slurp('/proc/loadavg') =~ /^(\S+ \S+ \S+)/;
my %ONLY = map { $_ => 1 } split /,/, ($ENV{BENCH_SCENARIOS} // '');

# the job the answer below names: the cache stores no answer for another
my $ID = 'j9c0a4726f6ac11ec96aaa9b64ab18d00';

# The seed's media job without its MediaInfo: 2.2 KB, a finished job, and
# short enough for a "return" directive.
my $seed = CiJobsTest::slurp("$CiJobsTest::ROOT/t/unit/xml/seed002.xml");
my ($job) = $seed =~ m{(    <JobsDetail>.*?</JobsDetail>\n)}s or die "seed";
$job =~ s{\n *<MediaInfo>.*</MediaInfo>}{}s;
my $body = "<Response>\n$job</Response>\n";
(my $quoted = $body) =~ s/(["\\\$])/\\$1/g;

# the same job still Running, its JobId the one asked for (nginx's $1)
(my $running = $body) =~ s{<JobId>[^<]*</JobId>}{<JobId>CROWDID</JobId>};
$running =~ s{^(        )<State>Success</State>}{$1<State>Running</State>}m
    or die "seed: no State";
(my $running_quoted = $running) =~ s/(["\\\$])/\\$1/g;
$running_quoted =~ s/CROWDID/\$1/;

# name, location prefix
my @CROWD = %ONLY ? () : (
    [ 'crowd proxy_pass',  '/crowd-base/' ],
    [ 'crowd proxy_cache', '/crowd-pc/' ],
    [ 'crowd gateway',     '/crowd-ci/' ],
);

# name, target, the scenario its ratio is taken against
my @SCENARIOS = (
    [ 'baseline',     "/base/jobs/$ID" ],
    [ 'njs peer',     "/njs/jobs/$ID",    'baseline' ],
    [ 'gateway XML',  "/ci/jobs/$ID",     'baseline' ],
    [ 'gateway JSON', "/json/jobs/$ID",   'gateway XML' ],
    # the same gateway location in a second nginx whose configuration has
    # a ci_jobs_status location: every request counted
    [ 'gw counted',   "/ci/jobs/$ID",     'gateway XML', 'counted' ],
    [ 'return 200',   '/static' ],
    [ 'cache HIT',    "/cached/jobs/$ID", 'return 200' ],
    [ 'HIT token',    "/cached-tok/jobs/$ID?access_token=TOKEN",
      'return 200' ],
    [ 'https baseline', "/tls-base/jobs/$ID" ],
    [ 'https gateway',  "/tls-ci/jobs/$ID",    'https baseline' ],
    [ 'https gw block', "/tls-block/jobs/$ID", 'https baseline' ],
);

if (%ONLY) {
    my %known = map { $_->[0] => 1 } @SCENARIOS;
    die "BENCH_SCENARIOS: no scenario \"$_\"\n"
        for grep { !$known{$_} } keys %ONLY;
    @SCENARIOS = grep { $ONLY{ $_->[0] } } @SCENARIOS;
}

# name, target, the relay it goes through
my @WAN = $WAN_MS && !%ONLY ? (
    [ 'wan baseline',   "/wan-base/jobs/$ID",  'wan_base' ],
    [ 'wan gateway',    "/wan-ci/jobs/$ID",    'wan_ci' ],
    [ 'wan gw no pool', "/wan-ka0/jobs/$ID",   'wan_ka0' ],
) : ();

# the gateway's shapes, each checked by the CI emulator: location, emulator
my @SIGNED = (
    [ '/ci-check/',        'plain' ],
    [ '/tls-ci-check/',    'tls' ],
    [ '/tls-block-check/', 'tls' ],
    [ '/tls-ka0-check/',   'tls' ],
);

my $emu = CiJobsTest->new(emulators => { plain => {},
                                          tls => { tls => 'good' } });
my $dir = $emu->dir;
my $ca = "$dir/tls/ca.crt";
my %port = map { $_ => CiJobsTest::free_port() }
           qw(proxy counted up tls wan_base wan_ci wan_ka0);
my %nginx;

# the access key, and a token for the job, as an application mints it
my $access_key = encode_base64url(join '', map { chr int rand 256 } 1 .. 32);
write_file("$dir/access-keys.json", encode_json(
    { keys => [ { kty => 'oct', kid => 'bench', k => $access_key } ] }));
write_file("$dir/token-spec.json", encode_json([ {
    key => $access_key,
    payload => { sub => 'bench', ci_jobs => [ $ID ], exp => time + 86000 },
    options => { algorithm => 'HS256', keyid => 'bench',
                 noTimestamp => JSON::PP::true } } ]));
chomp(my $token = `node $FindBin::Bin/../t/lib/jwt_mint.js $dir/token-spec.json`);
die "no access token (make deps installs jsonwebtoken)\n" if $? || !$token;
$_->[1] =~ s/TOKEN/$token/ for @SCENARIOS;
my %relay;      # name => pid

my $MAIN = $$;
$SIG{INT} = $SIG{TERM} = sub { stop_all(); exit 1 };
END { local $?; stop_all() if defined $MAIN && $$ == $MAIN }

system('cp', "$FindBin::Bin/cos_sign.js", $dir) == 0 or die;

start_nginx('up', 0, <<"EOF");
    server {
        listen 127.0.0.1:$port{up} backlog=4096;
        keepalive_requests 1000000;
        default_type application/xml;
        location / {
            add_header x-ci-request-id NjQyNjY2MjZfMzE0NDY;
            return 200 "$quoted";
        }
        location ~ ^/jobs/(crowd[0-9]+)\$ {
            add_header x-ci-request-id NjQyNjY2MjZfMzE0NDY;
            return 200 "$running_quoted";
        }
        # the connections accepted, plain and TLS: how many each run opened
        location = /bench-status {
            stub_status;
        }
    }

    server {
        listen 127.0.0.1:$port{tls} ssl backlog=4096;
        ssl_certificate $dir/tls/good.crt;
        ssl_certificate_key $dir/tls/good.key;
        ssl_session_cache shared:tls:1m;
        keepalive_requests 1000000;
        default_type application/xml;
        location / {
            add_header x-ci-request-id NjQyNjY2MjZfMzE0NDY;
            return 200 "$quoted";
        }
    }
EOF

my $creds = CiJobsTest::credentials();
my $host = $CiJobsTest::HOST;
my $static_auth = 'q-sign-algorithm=sha1&q-ak=' . $CiJobsTest::SECRET_ID
    . '&q-sign-time=1700000000;1700000900&q-key-time=1700000000;1700000900'
    . '&q-header-list=host&q-url-param-list='
    . '&q-signature=0123456789abcdef0123456789abcdef01234567';
my $proxy_headers = "proxy_set_header Connection \"\"; "
    . "proxy_set_header Host $host;";
my $proxy_tls = "proxy_ssl_server_name on; proxy_ssl_name $host; "
    . "proxy_ssl_verify on; proxy_ssl_trusted_certificate $ca; "
    . "proxy_ssl_session_reuse on;";
my $ci_tls = "ci_jobs on; $creds ci_jobs_ssl_trusted_certificate $ca;";
my $emu_tls = $emu->emulator_port('tls');
my $njs_vars = "set \$cos_host $host; "
    . "set \$cos_secret_id $CiJobsTest::SECRET_ID; "
    . "set \$cos_secret_key $CiJobsTest::SECRET_KEY;";

start_nginx('proxy', 1, <<"EOF");
    js_import cos from cos_sign.js;
    js_set \$cos_authorization cos.authorization;
    ci_jobs_cache_zone bench:10m;
    proxy_cache_path $dir/proxy_cache levels=1:2 keys_zone=crowd:10m;

    upstream up {
        server 127.0.0.1:$port{up};
        keepalive 64;
    }

    upstream emulator {
        server 127.0.0.1:@{[ $emu->emulator_port('plain') ]};
        keepalive 4;
    }

    # one block each: a block is not shared by proxy_pass and the gateway
    upstream up_tls {
        server 127.0.0.1:$port{tls};
        keepalive 64;
    }

    upstream ci_tls {
        server 127.0.0.1:$port{tls};
        keepalive 64;
    }

    upstream emulator_tls {
        server 127.0.0.1:$emu_tls;
        keepalive 4;
    }

    upstream wan_base {
        server 127.0.0.1:$port{wan_base};
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$port{proxy} backlog=4096;
        keepalive_requests 1000000;

        # proxy_set_header is not inherited by a location with its own
        proxy_http_version 1.1;

        location /base/ {
            $proxy_headers
            proxy_set_header Authorization "$static_auth";
            proxy_pass http://up/;
        }

        location /njs/ {
            $njs_vars
            rewrite ^/njs(/.*)\$ \$1 break;
            $proxy_headers
            proxy_set_header Authorization \$cos_authorization;
            proxy_pass http://up;
        }

        location /njs-check/ {
            $njs_vars
            rewrite ^/njs-check(/.*)\$ \$1 break;
            $proxy_headers
            proxy_set_header Authorization \$cos_authorization;
            proxy_pass http://emulator;
        }

        location /ci/ {
            ci_jobs on;
            $creds
            ci_jobs_pass http://up;
        }

        location /json/ {
            ci_jobs on;
            $creds
            ci_jobs_json on;
            ci_jobs_pass http://up;
        }

        location /cached/ {
            ci_jobs on;
            $creds
            ci_jobs_cache bench;
            ci_jobs_pass http://up;
            add_header X-Cache \$ci_jobs_cache_status;
        }

        location /cached-tok/ {
            ci_jobs on;
            $creds
            ci_jobs_cache bench;
            ci_jobs_pass http://up;
            ci_jobs_access token;
            ci_jobs_access_keys $dir/access-keys.json;
            add_header X-Cache \$ci_jobs_cache_status;
        }

        # the polling crowd

        location /crowd-base/ {
            $proxy_headers
            proxy_set_header Authorization "$static_auth";
            proxy_pass http://up/;
        }

        location /crowd-pc/ {
            $proxy_headers
            proxy_set_header Authorization "$static_auth";
            proxy_cache crowd;
            proxy_cache_lock on;
            proxy_cache_valid 200 1s;
            proxy_pass http://up/;
            add_header X-Cache \$upstream_cache_status;
        }

        location /crowd-ci/ {
            ci_jobs on;
            $creds
            ci_jobs_cache bench;
            ci_jobs_cache_valid_pending 1s;
            ci_jobs_pass http://up;
            add_header X-Cache \$ci_jobs_cache_status;
        }

        location = /static {
            default_type application/xml;
            return 200 "$quoted";
        }

        location /ci-check/ {
            ci_jobs on;
            $creds
            ci_jobs_pass http://emulator;
        }

        # over TLS

        location /tls-base/ {
            $proxy_headers
            proxy_set_header Authorization "$static_auth";
            $proxy_tls
            proxy_pass https://up_tls/;
        }

        location /tls-ci/ {
            $ci_tls
            ci_jobs_pass https://127.0.0.1:$port{tls};
        }

        location /tls-block/ {
            $ci_tls
            ci_jobs_pass https://ci_tls;
        }

        location /tls-ci-check/ {
            $ci_tls
            ci_jobs_pass https://127.0.0.1:$emu_tls;
        }

        location /tls-block-check/ {
            $ci_tls
            ci_jobs_pass https://emulator_tls;
        }

        location /tls-ka0-check/ {
            $ci_tls
            ci_jobs_keepalive 0;
            ci_jobs_pass https://127.0.0.1:$emu_tls;
        }

        # across the WAN relays

        location /wan-base/ {
            $proxy_headers
            proxy_set_header Authorization "$static_auth";
            $proxy_tls
            proxy_pass https://wan_base/;
        }

        location /wan-ci/ {
            $ci_tls
            ci_jobs_pass https://127.0.0.1:$port{wan_ci};
        }

        location /wan-ka0/ {
            $ci_tls
            ci_jobs_keepalive 0;
            ci_jobs_pass https://127.0.0.1:$port{wan_ka0};
        }
    }
EOF

unless ($PROFILE) {
    start_relay($_->[2]) for @WAN;
}

# the counted gateway: the same location, and the counters' location
start_nginx('counted', 0, <<"EOF") unless $PROFILE;
    upstream up {
        server 127.0.0.1:$port{up};
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$port{counted} backlog=4096;
        keepalive_requests 1000000;

        location /ci/ {
            ci_jobs on;
            $creds
            ci_jobs_pass http://up;
        }

        location = /status {
            ci_jobs_status;
            allow 127.0.0.1;
            deny all;
        }
    }
EOF

# --- what each scenario answers, before any load ---------------------------

my $check = get('/njs-check/jobs/jobsSuccess1');
die "the njs peer's signature was refused by the emulator: $check->{raw}\n"
    unless $check->{status} == 200;
my ($seen) = reverse $emu->upstream_requests('plain');
die "the emulator did not check the njs signature\n"
    unless $seen && $seen->{signature} && $seen->{signature} eq 'ok';

# each gateway shape twice: signatures accepted; without the pool, two
# connections, the second resuming the first's TLS session
for my $s (@SIGNED) {
    my ($location, $emulator) = @$s;
    $emu->forget_upstream_requests;
    for (1, 2) {
        my $r = get("${location}jobs/jobsSuccess1");
        die "$location: $r->{status} from the emulator: $r->{raw}\n"
            unless $r->{status} == 200 && $r->{body} =~ /<JobId>jobsSuccess1</;
    }
    my @seen = $emu->upstream_requests($emulator);
    die "$location: the emulator saw " . @seen . " requests, not 2\n"
        unless @seen == 2;
    for (@seen) {
        die "$location: the emulator refused the signature: $_->{signature}\n"
            unless ($_->{signature} // '') eq 'ok';
    }
    if ($location !~ /ka0/) {
        die "$location: two connections for two requests, no keepalive\n"
            if $seen[0]{pid} != $seen[1]{pid};
        next;
    }
    die "$location: one connection for both requests, the pool is not off\n"
        if $seen[0]{pid} == $seen[1]{pid};
    die "$location: the second connection's TLS session was not resumed\n"
        if defined $seen[1]{tls_resumed} && !$seen[1]{tls_resumed};
}

get("/cached/jobs/$ID");
get("/cached-tok/jobs/$ID?access_token=$token");

# profiling looks at the proxies' nginx alone
@SCENARIOS = grep { !defined $_->[3] } @SCENARIOS if $PROFILE;

for my $s (@SCENARIOS, $PROFILE ? () : @WAN) {
    my ($name, $target, undef, $where) = @$s;
    my $r = get($target, $where);
    die "$name: $r->{status}\n" unless $r->{status} == 200;

    if ($name eq 'gateway JSON') {
        die "$name: not JSON\n" unless $r->{body} =~ /^\{"Response":\{/;
    } else {
        die "$name: the body differs from the seed's\n"
            unless $r->{body} eq $body;
    }
}

# the counted gateway counts: its answer is in the counters
die "the counted gateway did not count\n"
    unless $PROFILE || !grep({ ($_->[3] // '') eq 'counted' } @SCENARIOS)
    || get('/status', 'counted')->{body}
       =~ /^ci_jobs_requests_total\{api="jobs",status="200"\} [1-9]/m;

die "no cache HIT\n"
    unless (get("/cached/jobs/$ID")->{headers}{'x-cache'} // '') eq 'HIT';
die "no cache HIT with the token\n"
    unless (get("/cached-tok/jobs/$ID?access_token=$token")
            ->{headers}{'x-cache'} // '') eq 'HIT';
die "a HIT without the token\n"
    unless get("/cached-tok/jobs/$ID")->{status} == 401;

# every crowd scenario answers the running job; the two caches keep it
for my $s (@CROWD) {
    my ($name, $prefix) = @$s;
    my @r = map { get("${prefix}jobs/crowd1") } 1, 2;
    for (@r) {
        die "$name: $_->{status}\n" unless $_->{status} == 200;
        die "$name: not the running job\n"
            unless $_->{body} =~ m{<JobId>crowd1</JobId>}
                   && $_->{body} =~ m{^        <State>Running</State>}m;
    }
    die "$name: the second answer is not a HIT\n"
        if $prefix ne '/crowd-base/'
           && ($r[1]{headers}{'x-cache'} // '') ne 'HIT';
}

write_file("$dir/crowd.lua", <<"LUA");
local n = 0
local prefix = os.getenv("CROWD_PREFIX")
request = function()
    n = n + 1
    return wrk.format("GET", prefix .. "jobs/crowd" .. (n % $CROWD_JOBS + 1))
end
LUA

if ($PROFILE || $STRACE) {
    $PROFILE ? profile() : syscalls();
    stop_all();
    exit 0;
}

# --- load ------------------------------------------------------------------

my %runs;       # "$name $conns" => [ { rps, p50, p99, fresh } ... ]

for my $run (1 .. $RUNS) {
    for my $conns (@CONNS) {
        for my $s (@SCENARIOS) {
            my ($name, $target, undef, $where) = @$s;
            push @{ $runs{"$name $conns"} }, wrk($target, $conns, $where);
        }
    }
    for my $s (@CROWD) {
        my ($name, $prefix) = @$s;
        push @{ $runs{"$name $CROWD_CONNS"} }, crowd($prefix);
    }
    # each with its pool filled first: pools idle out (60 s) between turns,
    # and wrk ends with requests in flight, whose upstream connections
    # nginx closes; a cold pool's handshakes would be the WAN's p99
    for my $conns (@WAN_CONNS) {
        for my $s (@WAN) {
            my ($name, $target) = @$s;
            warm($target, $conns);
            push @{ $runs{"$name $conns"} }, wrk($target, $conns);
        }
    }
}

stop_all();

# --- the table, the data, the plot ------------------------------------------

my %median;
for my $key (keys %runs) {
    my @by_rps = sort { $a->{rps} <=> $b->{rps} } @{ $runs{$key} };
    $median{$key} = $by_rps[$#by_rps / 2];
}

my $cpu = (grep { /^model name/ } split /\n/, CiJobsTest::slurp('/proc/cpuinfo'))[0]
          // '';
$cpu =~ s/^model name\s*:\s*//;
my $ncpu = () = CiJobsTest::slurp('/proc/cpuinfo') =~ /^processor/mg;
my $nginx_version = (`/usr/sbin/nginx -v 2>&1` =~ m{nginx/(\S+)})[0];

my $table = sprintf "%-14s %5s %10s %9s %9s %9s %6s  %s\n",
                    qw(scenario conns req/s p50_ms p99_ms up_new/1k cpu_us
                       ratio);

for my $s (@SCENARIOS) {
    my ($name, undef, $against) = @$s;
    for my $conns (@CONNS) {
        my $m = $median{"$name $conns"};
        my $ratio = '';
        if ($against && $median{"$against $conns"}) {
            $ratio = sprintf "%.2fx %s (runs %s)", $m->{rps}
                     / ($median{"$against $conns"}{rps} || 1), $against,
                     run_ratios("$name $conns", "$against $conns");
        }
        if ($name eq 'gateway XML' && $median{"njs peer $conns"}) {
            $ratio .= sprintf ", %.2fx njs peer",
                      $m->{rps} / ($median{"njs peer $conns"}{rps} || 1);
        }
        $table .= row($name, $conns, $m, $ratio);
    }
}

if (@WAN) {
    $table .= sprintf "\nacross a WAN, %d ms each way (bench/relay.pl):\n",
                      $WAN_MS;
    for my $s (@WAN) {
        my ($name) = @$s;
        for my $conns (@WAN_CONNS) {
            my $m = $median{"$name $conns"};
            my $ratio = $name eq 'wan baseline' ? '' : sprintf
                "p50 %.2fx, p99 %.2fx wan baseline",
                map { $m->{$_} / ($median{"wan baseline $conns"}{$_} || 1) }
                qw(p50 p99);
            $table .= row($name, $conns, $m, $ratio);
        }
    }
}

if (@CROWD) {
    $table .= sprintf "\npolling crowd: %d connections polling %d running "
                      . "jobs (upstream: the requests it received;\n"
                      . "both caches keep a running job 1 s):\n",
                      $CROWD_CONNS, $CROWD_JOBS;
    $table .= sprintf "%-18s %10s %9s %9s %9s  %s\n",
                      qw(scenario req/s p50_ms p99_ms upstream ratio);
    for my $s (@CROWD) {
        my ($name) = @$s;
        my $m = $median{"$name $CROWD_CONNS"};
        my $ratio = $name eq 'crowd proxy_pass' ? ''
            : sprintf "%.2fx proxy_pass", $m->{rps} / ($median{"crowd proxy_pass $CROWD_CONNS"}{rps} || 1);
        $ratio .= sprintf ", %.2fx proxy_cache",
            $m->{rps} / ($median{"crowd proxy_cache $CROWD_CONNS"}{rps} || 1)
            if $name eq 'crowd gateway';
        $table .= sprintf "%-18s %10.0f %9.3f %9.3f %9d  %s\n", $name,
                          $m->{rps}, $m->{p50}, $m->{p99}, $m->{upstream},
                          $ratio;
    }
}

my $openssl = (`openssl version 2>&1` =~ /^(OpenSSL \S+)/)[0] // 'OpenSSL';
my ($load) = CiJobsTest::slurp('/proc/loadavg') =~ /^(\S+ \S+ \S+)/;
$load = "$load_start at the start, $load at the end" if $load_start && $load;

$table .= sprintf "\nnginx %s, worker_processes 1 (proxies) + 1 (upstream), "
                  . "wrk -t1, median of %d runs of %ds;\n"
                  . "answer: %d bytes of XML; %d CPUs: %s; %s;\n"
                  . "up_new/1k: connections the upstream accepted per 1,000 "
                  . "requests; cpu_us: CPU time (user and system) of the\n"
                  . "proxies' worker per request; load average %s\n",
                  $nginx_version, $RUNS, $SECONDS, length $body, $ncpu, $cpu,
                  $openssl, $load // '?';

print "\n$table";

make_path($OUT);
write_file("$OUT/results.txt", $table);

# anything the proxies logged at warn or above, for the record
my $log = CiJobsTest::slurp("$dir/proxy.error.log");
write_file("$OUT/proxy.error.log", $log);
my @logged = grep { /\[(warn|error|crit|alert|emerg)\]/ } split /\n/, $log;
if (@logged) {
    my %level;
    $level{$_}++ for map { /\[(\w+)\]/ } @logged;
    print "the proxies' error log: ",
          join(', ', map { "$level{$_} [$_]" } sort keys %level),
          " (build/bench/proxy.error.log), the first:\n  $logged[0]\n";
}

my $data = "# conns " . join(' ', map { "\"$_->[0]\"" } @SCENARIOS) . "\n";
for my $conns (@CONNS) {
    $data .= join(' ', $conns,
                  map { sprintf '%.0f', $median{"$_->[0] $conns"}{rps} }
                  @SCENARIOS) . "\n";
}
write_file("$OUT/results.dat", $data);

# the HTTPS scenarios dashed: gnuplot's colours repeat after eight
my @plots = map {
    sprintf "'%s/results.dat' using 1:%d with linespoints%s title '%s'",
            $OUT, $_ + 2, $SCENARIOS[$_][0] =~ /^https/ ? ' dashtype 2' : '',
            $SCENARIOS[$_][0]
} 0 .. $#SCENARIOS;

open my $gp, '|-', 'gnuplot' or die "gnuplot: $!";
print $gp <<"EOF";
set terminal pngcairo size 800,500 noenhanced
set output '$OUT/throughput.png'
set title 'requests/s by connections (nginx $nginx_version, one worker)'
set xlabel 'connections'
set ylabel 'requests/s'
set logscale x 2
set xtics (@{[ join ', ', @CONNS ]})
set yrange [0:*]
set key outside right
set grid
plot @{[ join ', ', @plots ]}
EOF
close $gp or die "gnuplot failed\n";

print "written: $OUT/results.txt, $OUT/results.dat, $OUT/throughput.png\n";

# --- helpers -----------------------------------------------------------------

sub start_nginx {
    my ($name, $njs, $http) = @_;
    my $conf = "$dir/$name.conf";
    my $modules = "load_module $CiJobsTest::MODULE;\n";
    $modules .= "load_module $NJS;\n" if $njs;
    my $user = $> == 0 ? 'user root;' : '';

    make_path("$dir/$name");
    write_file($conf, <<"EOF");
$modules
$user
worker_processes 1;
daemon off;
pid $dir/$name.pid;
error_log $dir/$name.error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/$name;
    proxy_temp_path $dir/$name;
    fastcgi_temp_path $dir/$name;
    uwsgi_temp_path $dir/$name;
    scgi_temp_path $dir/$name;
$http
}
EOF

    my @cmd = ('/usr/sbin/nginx', '-p', $dir, '-c', $conf);

    if ($PROFILE && $name eq 'proxy') {
        make_path($OUT);
        unlink glob "$OUT/callgrind.out*";
        # uncompressed names: each dump is read alone by callgrind_annotate
        @cmd = ('valgrind', '--tool=callgrind', '--quiet',
                '--compress-strings=no', '--compress-pos=no',
                "--callgrind-out-file=$OUT/callgrind.out", @cmd,
                '-g', 'master_process off;');
    }

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/$name.out";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec: $!";
    }
    $nginx{$name} = $pid;

    CiJobsTest::wait_for(sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port{$name}")
    }, $PROFILE ? 60 : 15) or die "nginx $name did not start: "
                  . CiJobsTest::slurp("$dir/$name.out");
}

sub stop_all {
    for my $pid (values %relay) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
    %relay = ();
    for my $pid (values %nginx) {
        kill 'QUIT', $pid;
        waitpid $pid, 0;
    }
    %nginx = ();
    $emu->stop_all if $emu;
}

# bench/relay.pl on $port{NAME}, to the HTTPS upstream, $WAN_MS each way
sub start_relay {
    my ($name) = @_;
    my $out = "$dir/relay-$name.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec $^X, "$FindBin::Bin/relay.pl", $port{$name}, $port{tls}, $WAN_MS
            or die "exec: $!";
    }
    $relay{$name} = $pid;
    CiJobsTest::wait_for(sub { CiJobsTest::slurp($out) =~ /^listening$/m }, 15)
        or die "relay $name did not start: " . CiJobsTest::slurp($out);
}

sub get {
    my ($target, $where) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:"
                                              . $port{ $where // 'proxy' },
                                  Timeout => 10) or die "connect: $!";
    print $s "GET $target HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n";
    local $/;
    my $raw = <$s> // '';
    return CiJobsTest::parse_response($raw);
}

# one wrk run: { rps, p50, p99 (milliseconds), fresh (connections the
# upstream accepted per 1,000 requests), cpu (microseconds of the proxy's
# worker per request) }; any error or non-2xx answer stops the benchmark
sub wrk {
    my ($target, $conns, $where) = @_;
    $where //= 'proxy';
    my $before = accepted();
    my $cpu = worker_cpu($where);
    my $out = `wrk -t1 -c$conns -d${SECONDS}s --latency http://127.0.0.1:$port{$where}$target 2>&1`;
    $cpu = worker_cpu($where) - $cpu;
    die "wrk $target -c$conns:\n$out" if $? || $out =~ /Non-2xx|Socket errors/;
    # less the status request's own connection
    my $fresh = accepted() - $before - 1;

    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/ or die $out;
    my ($n) = $out =~ /(\d+) requests in/ or die $out;
    my %p = $out =~ /^\s+(50|99)%\s+([\d.]+\w+)/mg;
    return { rps => $rps, p50 => ms($p{50}), p99 => ms($p{99}),
             fresh => 1000 * $fresh / ($n || 1),
             cpu => 1e6 * $cpu / ($n || 1) };
}

# the CPU seconds (user and system) the worker of nginx NAME has used
sub worker_cpu {
    my ($name) = @_;
    my $master = $nginx{$name};
    my ($worker) = CiJobsTest::slurp("/proc/$master/task/$master/children")
                   =~ /^(\d+)/ or die "nginx $name: no worker\n";
    my ($stat) = CiJobsTest::slurp("/proc/$worker/stat") =~ /\) (.*)/s;
    my @f = split ' ', $stat;
    return ($f[11] + $f[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK);
}

# one polling crowd run: wrk's figures and the requests the upstream saw
sub crowd {
    my ($prefix) = @_;
    my $before = upstream_served();
    local $ENV{CROWD_PREFIX} = $prefix;
    my $out = `wrk -t1 -c$CROWD_CONNS -d${SECONDS}s --latency -s $dir/crowd.lua http://127.0.0.1:$port{proxy}/ 2>&1`;
    die "wrk $prefix -c$CROWD_CONNS:\n$out"
        if $? || $out =~ /Non-2xx|Socket errors/;
    # less the status request itself
    my $upstream = upstream_served() - $before - 1;

    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/ or die $out;
    my %p = $out =~ /^\s+(50|99)%\s+([\d.]+\w+)/mg;
    return { rps => $rps, p50 => ms($p{50}), p99 => ms($p{99}),
             upstream => $upstream };
}

# the requests the upstream nginx has served so far
sub upstream_served {
    my $r = get('/bench-status', 'up');
    my ($n) = $r->{body} =~ /^\s*\d+ \d+ (\d+)\s*$/m
        or die "stub_status: $r->{raw}\n";
    return $n;
}

# CONNS requests at once, each answered whole: as many upstream connections
# opened and, up to the pool's size, kept idle
sub warm {
    my ($target, $conns) = @_;
    my @s = map {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port{proxy}",
                              Timeout => 10) or die "connect: $!";
    } 1 .. $conns;
    print $_ "GET $target HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n" for @s;
    for (@s) {
        local $/;
        my $r = CiJobsTest::parse_response(<$_> // '');
        die "$target: $r->{status} warming up\n" unless $r->{status} == 200;
    }
}

# the connections the upstream nginx has accepted so far
sub accepted {
    my $r = get('/bench-status', 'up');
    my ($n) = $r->{body} =~ /^\s*(\d+) \d+ \d+\s*$/m
        or die "stub_status: $r->{raw}\n";
    return $n;
}

sub row {
    my ($name, $conns, $m, $ratio) = @_;
    return sprintf "%-14s %5d %10.0f %9.3f %9.3f %9.1f %6.1f  %s\n", $name,
                   $conns, $m->{rps}, $m->{p50}, $m->{p99}, $m->{fresh},
                   $m->{cpu}, $ratio;
}

# Instructions per request of each scenario: callgrind's counters zeroed,
# one connection's requests for a few seconds, the counters dumped.
sub profile {
    my $pid = $nginx{proxy};
    my @rows;

    for my $s (@SCENARIOS) {
        my ($name, $target) = @$s;
        system("callgrind_control -z $pid >/dev/null") == 0 or die;
        my $out = `wrk -t1 -c1 -d${SECONDS}s http://127.0.0.1:$port{proxy}$target 2>&1`;
        my ($n) = $out =~ /(\d+) requests in/ or die $out;
        system("callgrind_control -d '$name' $pid >/dev/null") == 0 or die;

        my ($file) = sort { -M $a <=> -M $b } glob "$OUT/callgrind.out.*";
        my ($ir) = `callgrind_annotate $file 2>/dev/null`
                   =~ /^([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m or die;
        $ir =~ tr/,//d;
        rename $file, "$OUT/callgrind.out." . ($name =~ tr/ /-/r);
        push @rows, sprintf "%-14s %8d requests %10.0f instructions each\n",
                            $name, $n, $ir / $n;
    }

    print "\n", @rows;
    print "callgrind_annotate --inclusive=yes $OUT/callgrind.out.<scenario>\n";
}

# System calls per request of each scenario: strace -c on the proxies'
# worker while wrk runs 16 connections, each call's count divided by the
# requests wrk made.
sub syscalls {
    my (@rows, %calls, %seen);

    for my $s (@SCENARIOS) {
        my ($name, $target, undef, $where) = @$s;
        $where //= 'proxy';
        my $master = $nginx{$where};
        my ($worker) = CiJobsTest::slurp("/proc/$master/task/$master/children")
                       =~ /^(\d+)/ or die "nginx $where: no worker\n";
        my $log = "$dir/strace.$worker";
        unlink $log;

        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open STDERR, '>', '/dev/null';
            exec 'strace', '-c', '-f', '-o', $log, '-p', $worker
                or die "exec: $!";
        }
        select undef, undef, undef, 1;

        my $out = `wrk -t1 -c16 -d${SECONDS}s http://127.0.0.1:$port{$where}$target 2>&1`;
        kill 'INT', $pid;
        waitpid $pid, 0;
        my ($n) = $out =~ /(\d+) requests in/ or die $out;

        for (split /\n/, CiJobsTest::slurp($log)) {
            my ($count, $call) = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/
                or next;
            $calls{$name}{$call} = $count / $n;
            $seen{$call} = 1;
        }
        push @rows, $name;
    }

    my $first = $calls{ $rows[0] };
    my @names = sort { ($first->{$b} // 0) <=> ($first->{$a} // 0)
                       or $a cmp $b } keys %seen;
    printf "\n%-16s%s\n", 'per request', join '', map { sprintf '%14s', $_ } @rows;
    for my $call (@names) {
        printf "%-16s%s\n", $call,
               join '', map { sprintf '%14.4f', $calls{$_}{$call} // 0 } @rows;
    }
}

# the lowest and the highest ratio of one run's rates, "0.87-0.99"
sub run_ratios {
    my ($key, $against) = @_;
    my @r = sort { $a <=> $b }
            map { $runs{$key}[$_]{rps} / ($runs{$against}[$_]{rps} || 1) }
            0 .. $#{ $runs{$key} };
    return sprintf "%.2f-%.2f", $r[0], $r[-1];
}

sub ms {
    my ($v) = @_;
    my ($n, $unit) = ($v // '0ms') =~ /^([\d.]+)(\w+)$/;
    return $n * { us => 0.001, ms => 1, s => 1000, m => 60000 }->{$unit};
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}
