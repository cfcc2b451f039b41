#!/usr/bin/perl

# A real browser: examples/job-status.html, served from one origin, polls
# the gateway's JSON endpoint on another with fetch(), and shows each job's
# state as it changes.  Nothing the browser receives holds a secret or an
# Authorization header.  Given an access token in its URL, the page sends
# it to a location with ci_jobs_access token.

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

    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
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
        }
    }
EOF

open my $kf, '>', $t->dir . '/keys.json' or die;
print $kf encode_json({ keys => [ { kty => 'oct', kid => 'page', k => $key } ] });
close $kf;
$t->start_nginx;

my $gateway = 'http://127.0.0.1:' . $t->port . '/ci/';
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

    my $dom = do { local $/; <$out> } // '';
    close $out;
    return $dom;
}

my $netlog = $t->dir . '/netlog-plain.json';
my $dom = browse($url, 'plain');

sub job_state {
    my ($id, $in) = @_;
    return ($in // $dom) =~ m{<tr id="job-$id" data-state="(\w+)"} ? $1 : '';
}

ok(length $dom, 'the browser rendered the page') or diag(CiJobsTest::slurp($t->dir . '/chromium-plain.log'));
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

# --- with an access token ----------------------------------------------------

my $sdk = "$CiJobsTest::ROOT/t/sdk/node_modules";
CiJobsTest::require_prerequisite(-d "$sdk/jsonwebtoken",
                                 'jsonwebtoken missing (make deps)');

my $specs = $t->dir . '/specs.json';
open my $sf, '>', $specs or die;
print $sf encode_json([ {
    key => $key,
    payload => { ci_jobs => [ qw(jobsFailed1 jobsRunning1) ],
                 exp => time + 600 },
    options => { algorithm => 'HS256', keyid => 'page',
                 noTimestamp => JSON::PP::true } } ]);
close $sf;
chomp(my $token = `node $CiJobsTest::ROOT/t/lib/jwt_mint.js $specs`);
like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'a token minted by jsonwebtoken');

my $tok_gateway = 'http://127.0.0.1:' . $t->port . '/tok/';
my $tok_dom = browse("http://127.0.0.1:$page_port/job-status.html"
                     . "?gateway=$tok_gateway&jobs=jobsFailed1,jobsRunning1"
                     . "&interval=200&token=$token", 'token');
is(job_state('jobsFailed1', $tok_dom), 'Failed',
   'with the token of its URL: a failed job');
is(job_state('jobsRunning1', $tok_dom), 'Running', 'and a running one');

my $bad_dom = browse("http://127.0.0.1:$page_port/job-status.html"
                     . "?gateway=$tok_gateway&jobs=jobsFailed1&interval=200",
                     'notoken');
is(job_state('jobsFailed1', $bad_dom), 'error', 'without a token: an error');
like($bad_dom, qr/InvalidToken/, 'the gateway\'s InvalidToken shown');

$t->done;
done_testing;
