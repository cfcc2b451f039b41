#!/usr/bin/perl

# A real browser: examples/job-status.html, served from one origin, shows
# each job's state as it changes, from a gateway on another: with
# ci_jobs_watch on, told by one EventSource stream, with no request of its
# own after it; without, it falls back to polling the JSON endpoint with
# fetch().  Nothing the browser receives holds a secret or an Authorization
# header.  Given an access token in its URL, the page sends it to a
# location with ci_jobs_access token (as access_token to the stream).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Test::More;

my ($chromium) = grep { -x } qw(/usr/bin/chromium /usr/bin/chromium-browser);
CiJobsTest::require_prerequisite($chromium,
    'no chromium (make deps installs it)');

my $page_port = CiJobsTest::free_port();
my $examples = "$CiJobsTest::ROOT/examples";

my $key = encode_base64url(join '', map { chr int rand 256 } 1 .. 32);

my $t = CiJobsTest->new(start => 0, secrets => [ $key ], http => <<"EOF");
    server {
        listen 127.0.0.1:$page_port;
        root $examples;
    }

    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
            add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port" always;

            ci_jobs on;
            ci_jobs_json on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
        }

        location /poll/ {
            if (\$request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port";
                add_header Access-Control-Allow-Methods "GET";
                add_header Access-Control-Allow-Headers "Accept";
                return 204;
            }

            add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port" always;

            ci_jobs on;
            ci_jobs_json on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /tok/ {
            if (\$request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port";
                add_header Access-Control-Allow-Methods "GET";
                add_header Access-Control-Allow-Headers "Accept, Authorization";
                return 204;
            }

            add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port" always;

            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_access token;
            ci_jobs_access_keys %%DIR%%/keys.json;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
        }
    }
EOF

open my $kf, '>', $t->dir . '/keys.json' or die;
print $kf encode_json({ keys => [ { kty => 'oct', kid => 'page', k => $key } ] });
close $kf;
$t->start_nginx;

my $gateway = 'http://127.0.0.1:' . $t->port . '/poll/';
my $url = "http://127.0.0.1:$page_port/job-status.html?gateway=$gateway"
        . '&jobs=faultstate,jobsFailed1,jobsRunning1,nosuchjob1&interval=200';

# the page in headless chromium: its DOM once the virtual time is spent
sub browse {
    my ($url, $name) = @_;
    my $pid = open my $out, '-|';
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>', $t->dir . "/chromium-$name.log";
        exec $chromium, qw(--headless --no-sandbox --disable-gpu --no-first-run
                           --disable-background-networking
                           --disable-component-update --disable-sync
                           --disable-quic --virtual-time-budget=20000),
             '--user-data-dir=' . $t->dir . "/chromium-profile-$name",
             '--log-net-log=' . $t->dir . "/netlog-$name.json",
             '--net-log-capture-mode=Everything', '--dump-dom', $url;
        exit 127;
    }

    # virtual time stands still while a stream is open: a page whose
    # stream never ends is cut after a minute of real time
    my $dom = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 60;
        my $text = do { local $/; <$out> } // '';
        alarm 0;
        $text;
    };
    if (!defined $dom) {
        kill 'TERM', $pid;
        $dom = '';
    }
    close $out;
    return $dom;
}

my $netlog = $t->dir . '/netlog-plain.json';
my $dom = browse($url, 'plain');

sub job_state {
    my ($id, $in) = @_;
    return ($in // $dom) =~ m{<tr id="job-$id" data-state="(\w+)"} ? $1 : '';
}

# the page's requests to a gateway location, as nginx logged them
sub gateway_requests {
    my ($prefix) = @_;
    return grep { m{"[A-Z]+ /\Q$prefix\E/} }
           split /\n/, CiJobsTest::slurp($t->dir . '/access.log');
}

ok(length $dom, 'the browser rendered the page') or diag(CiJobsTest::slurp($t->dir . '/chromium-plain.log'));
like($dom, qr{<body data-mode="polling">},
     'no stream offered: the page polls');
my @polls = gateway_requests('poll');
like($polls[0] // '', qr{"GET /poll/jobs/faultstate,\S+ HTTP/1.1" 200 },
     'after one EventSource request the gateway answered as a lookup');
cmp_ok(scalar @polls, '>=', 4, 'then one request per interval');
is(job_state('faultstate'), 'Success',
   'a job seen Submitted, then Running, ends Success');
is(job_state('jobsFailed1'), 'Failed', 'a failed job');
like(job_state('jobsRunning1'), qr/^Running$/, 'a running job');
is(job_state('nosuchjob1'), 'missing', 'a missing job');
like($dom, qr{<td class="id">faultstate</td><td class="state">Success</td><td><progress max="100" value="100">},
     'progress shown');

my @states = map { $_->{response} =~ m{<JobId>faultstate</JobId>\s*<State>(\w+)<} }
             grep { $_->{target} =~ /faultstate/ } $t->upstream_requests;
is_deeply([ @states[0 .. 2] ], [ qw(Submitted Running Success) ],
          'the page polled until the job finished');

my ($received) = $dom =~ m{<pre id="received" hidden="">(.*?)</pre>}s;
ok($received && $received =~ /^200$/m, 'the page saw the gateway\'s answers');

my $netlog_text = CiJobsTest::slurp($netlog);
ok(length $netlog_text, 'the browser\'s network log was written');

for my $where ([ 'the page', $dom ], [ 'the network log', $netlog_text ]) {
    my ($name, $text) = @$where;
    unlike($text, qr/\Q$CiJobsTest::SECRET_KEY\E/,
           "$name: no secret key");
    unlike($text, qr/q-signature|q-sign-algorithm/,
           "$name: no signature");
}

unlike($received // '', qr/^authorization:/mi,
       'no Authorization header in any response');
unlike($netlog_text, qr/"authorization:/i,
       'no Authorization header in the network log');

# --- events: one stream, no polling ------------------------------------------

$t->forget_upstream_requests;
my $timed = "timed3x$$";
my $events_url = "http://127.0.0.1:$page_port/job-status.html?gateway="
               . 'http://127.0.0.1:' . $t->port . '/ci/'
               . "&jobs=$timed,jobsFailed1,nosuchjob1&interval=200";
my $events_dom = browse($events_url, 'events');

like($events_dom, qr{<body data-mode="events">}, 'a stream offered: events');
is(job_state($timed, $events_dom), 'Success',
   'a job seen running ends Success');
is(job_state('jobsFailed1', $events_dom), 'Failed', 'a failed job');
is(job_state('nosuchjob1', $events_dom), 'missing', 'a missing job');
like($events_dom, qr{<p id="status">all jobs finished</p>},
     'the page knows every job ended');

my ($told) = $events_dom =~ m{<pre id="received" hidden="">(.*?)</pre>}s;
$told //= '';
my @progress = map { /"JobId":"\Q$timed\E".*"State":"(\w+)".*"Progress":"?(\d+)/
                     ? "$1 $2" : () }
               $told =~ /^event: job\n(?:id: .*\n)?data: (.*)$/mg;
is_deeply(\@progress, [ 'Submitted 0', 'Running 30', 'Success 100' ],
          'each state and its progress pushed as it changed')
    or diag($told);
like($told, qr/event: end\n(?:id: .*\n)?data: \{\}\n\s*\z/, 'then the end');

my @streams = gateway_requests('ci');
is(scalar @streams, 1, 'one request from the page: the stream') or diag("@streams");
like($streams[0] // '', qr{"GET /ci/jobs/\Q$timed\E,jobsFailed1,nosuchjob1 HTTP/1.1" 200 },
     'on the id lookup');
my $refreshes = grep { $_->{target} =~ /\Q$timed\E/ } $t->upstream_requests;
cmp_ok($refreshes, '<=', 6,
       'CI asked once per watch interval, not per page request');

my $events_netlog = CiJobsTest::slurp($t->dir . '/netlog-events.json');
unlike($events_netlog, qr/\Q$CiJobsTest::SECRET_KEY\E|q-signature/,
       'no secret and no signature in its network log');

# --- with an access token ----------------------------------------------------

my $sdk = "$CiJobsTest::ROOT/t/sdk/node_modules";
CiJobsTest::require_prerequisite(-d "$sdk/jsonwebtoken",
                                 'jsonwebtoken missing (make deps)');

my $specs = $t->dir . '/specs.json';
open my $sf, '>', $specs or die;
print $sf encode_json([ {
    key => $key,
    payload => { ci_jobs => [ 'jobsFailed1', "timed2x$$" ],
                 exp => time + 600 },
    options => { algorithm => 'HS256', keyid => 'page',
                 noTimestamp => JSON::PP::true } } ]);
close $sf;
chomp(my $token = `node $CiJobsTest::ROOT/t/lib/jwt_mint.js $specs`);
like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'a token minted by jsonwebtoken');

my $tok_gateway = 'http://127.0.0.1:' . $t->port . '/tok/';
my $tok_dom = browse("http://127.0.0.1:$page_port/job-status.html"
                     . "?gateway=$tok_gateway&jobs=jobsFailed1,timed2x$$"
                     . "&interval=200&token=$token", 'token');
is(job_state('jobsFailed1', $tok_dom), 'Failed',
   'with the token of its URL: a failed job');
is(job_state("timed2x$$", $tok_dom), 'Success',
   'and one that ends while watched');
like($tok_dom, qr{<body data-mode="events">},
     'told by a stream, the token its access_token');
my @tok = gateway_requests('tok');
is(scalar @tok, 1, 'one request from the page');
like($tok[0] // '', qr{"GET /tok/jobs/jobsFailed1,timed2x$$\?access_token=\S+ HTTP/1.1" 200 },
     'one stream request') or diag("@tok");

my $bad_dom = browse("http://127.0.0.1:$page_port/job-status.html"
                     . "?gateway=$tok_gateway&jobs=jobsFailed1&interval=200",
                     'notoken');
is(job_state('jobsFailed1', $bad_dom), 'error', 'without a token: an error');
like($bad_dom, qr/InvalidToken/, 'the gateway\'s InvalidToken shown');

$t->done;
done_testing;
