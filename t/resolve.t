#!/usr/bin/perl

# CI's host name resolved at run time through nginx's resolver: nginx
# starts although the system cannot resolve the name; before the first
# answer a request waits for it, up to resolver_timeout; under continuous
# load on two workers the answer moves from one address to another and
# every request is a 200, every worker sending new requests to the new
# address within the TTL (valid) and a second; the DNS server falls silent
# and requests keep going to the last address; a name that never resolves
# is a 502 BadGateway, and nothing crashes.  Idle connections to an address
# gone are closed.  The counters say what the resolutions found.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use JSON::PP;
use List::Util qw(max);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Test::More;

my $ID = 'jobsSuccess1';
my $TTL = 1;

# a request's own time on top of a wait, more under valgrind
my $SLACK = $ENV{TEST_NGINX_VALGRIND} ? 5 : 1;

my $t = CiJobsTest->new(
    workers => 2,
    emulators => {
        a => { tls => 'good', address => '127.0.0.2' },
        b => { tls => 'good', address => '127.0.0.3', port_of => 'a' },
    },
    start => 0);

my $host = $CiJobsTest::HOST;

# the DNS server's zone: the moving name; one answered 2 s late; one never
# answered until late in the test
my %zone = ($host => ['127.0.0.2'],
            'late.example.test' => ['delay=2', '127.0.0.3'],
            'quiet.example.test' => ['silent']);

$t->start_dns(%zone);

my $dns = $t->dns_port;

$t->{http} = <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        ci_jobs_ssl_trusted_certificate %%CA%%;
        ci_jobs_read_timeout 5s;

        resolver 127.0.0.1:$dns ipv6=off;
        resolver_timeout 2s;

        location /moving/ {
            ci_jobs on;
            ci_jobs_pass https://%%HOST%%:%%EMU_a%%;
        }

        location /late/ {
            ci_jobs on;
            ci_jobs_pass https://late.example.test:%%EMU_a%%;
            resolver_timeout 5s;
        }

        location /quiet/ {
            ci_jobs on;
            ci_jobs_pass https://quiet.example.test:%%EMU_a%%;
        }

        location /nowhere/ {
            ci_jobs on;
            ci_jobs_pass https://nowhere.invalid.test:%%EMU_a%%;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

# the configuration is good without the name in the system's resolver
my ($rc, $out) = $t->nginx_test($t->{http});
is($rc, 0, 'nginx -t needs no address for the host name') or diag $out;

# the default, https://<bucket>.ci.<region>.myqcloud.com, alike; without
# resolver, as before: a name is resolved when the configuration is read,
# through the system (.invalid never resolves)
my $default = <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%
        resolver 127.0.0.1:$dns ipv6=off;
        location /ci/ { ci_jobs on; }
    }
EOF
($rc, $out) = $t->nginx_test($default);
is($rc, 0, 'the default URL with resolver: nginx -t') or diag $out;

($rc, $out) = $t->nginx_test($default =~ s/^\s*resolver .*\n//mr
    =~ s{ci_jobs on;}{ci_jobs on; ci_jobs_pass https://ci.invalid;}r);
isnt($rc, 0, 'without resolver, resolved at configuration time');
like($out, qr/host not found/, 'as proxy_pass does');

$t->start_nginx;

# the requests an emulator has answered: its record's lines
sub answered {
    my ($name) = @_;
    open my $fh, '<', $t->dir . "/emu_$name.jsonl" or return 0;
    my $n = 0;
    $n += tr/\n// while sysread $fh, $_, 65536;
    return $n;
}

# when an emulator answered each request, in order
sub answer_times {
    my ($name) = @_;
    open my $fh, '<', $t->dir . "/emu_$name.jsonl" or return ();
    return map { decode_json($_)->{time} } grep { /\S/ } <$fh>;
}

# before the first answer: each worker asked when it started, and the
# answer comes 2 s later, within resolver_timeout (5 s there)
my $asked = time;
my $late = $t->get("/late/jobs/$ID");
my $waited = time - $asked;
is($late->{status}, 200, 'before the first answer, a request waits for it');
cmp_ok($waited, '>', 1, 'it did wait') or diag $waited;
cmp_ok($waited, '<', 2 + $SLACK, 'for the answer, not longer')
    or diag $waited;

# no answer at all: the request waits, up to resolver_timeout, then 502
$asked = time;
my $quiet = $t->get("/quiet/jobs/$ID");
$waited = time - $asked;
is($quiet->{status}, 502, 'no first answer: 502');
is(CiJobsTest::error_code($quiet), 'BadGateway', 'BadGateway');
cmp_ok($waited, '<', 2 + $SLACK, 'within resolver_timeout');
diag sprintf 'waited for a name never answered: %.2f s', $waited;

my ($a_first, $b_late) = (answered('a'), answered('b'));
my $first = $t->get("/moving/jobs/$ID");
is($first->{status}, 200, 'the moving name: 200');
is(answered('a') - $a_first, 1, 'from its address');
is(answered('b'), $b_late, 'not from the other');

# load: two clients, each request's end, status and duration in a file

my @loaders;
for my $n (1, 2) {
    my $file = $t->dir . "/load$n.txt";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $fh, '>', $file or die;
        $fh->autoflush(1);
        while (1) {
            my $began = time;
            my $r = eval { $t->get("/moving/jobs/$ID") };
            printf $fh "%.3f %d %.3f\n", time, $r ? $r->{status} : 0,
                   time - $began;
            sleep 0.01;
        }
    }
    push @loaders, [$pid, $file];
}

# the DNS server's queries for a name so far
sub queries_for {
    my ($name) = @_;
    open my $fh, '<', $t->dir . '/dns.jsonl' or return 0;
    return scalar grep { /"name":"\Q$name\E"/ } <$fh>;
}

# nginx's connections to an address, open (the pooled ones among them)
sub connections_to {
    my ($address) = @_;
    my $port = $t->emulator_port('a');
    my @lines = grep { /\S/ }
        `ss -Htn state established dst $address:$port 2>/dev/null`;
    return scalar @lines;
}

sleep 1.5;

cmp_ok(connections_to('127.0.0.2'), '>', 0,
       'connections to the first address, kept alive');

# the worst moment for a change: just after the workers asked (they
# started together, and ask together)
my $queries = queries_for($host);
my $deadline = time + 5;
sleep 0.005 while queries_for($host) == $queries && time < $deadline;
sleep 0.02;

$t->dns_answer(%zone, $host => ['127.0.0.3']);
my $changed = time;

my $moved = CiJobsTest::wait_for(sub { answered('b') > $b_late }, 10);
ok($moved, 'requests go to the new address');

sleep 3;

# the first request at the new address, and the last one at the old:
# each worker asks again before its answer runs out (and not nginx's
# resolver's cache, which keeps it to the end of the second it runs out
# in), so both come within the TTL (valid) and a second of the change
my ($to_new) = grep { $_ > $changed } answer_times('b');
my ($to_old) = reverse answer_times('a');
my $delay = ($to_new // $changed + 99) - $changed;
my $last_old = $to_old - $changed;

diag sprintf 'from the change of the answer to the first request at the '
           . 'new address: %.2f s; to the last one at the old: %.2f s',
           $delay, $last_old;

cmp_ok($delay, '<', $TTL + 1, 'the first request at the new address '
       . 'within valid + 1 s');
cmp_ok($last_old, '<', $TTL + 1, 'the last one at the old address too');

# nine tenths of the TTL, and a margin for a loaded machine: half a second
# to spare (asking the resolver's cache, 2.0 s)
cmp_ok(max($delay, $last_old), '<', $TTL + 0.5,
       'with half a second to spare');

my $a_before = answered('a');
sleep 2;
is(answered('a'), $a_before,
   'no request goes to the old address any more');
is(connections_to('127.0.0.2'), 0,
   'the idle ones to the old address are closed');

# silence: longer than the TTL and resolver_timeout together

$t->dns_silent;
my $b_before = answered('b');
sleep 5;

cmp_ok(answered('b') - $b_before, '>', 10,
       'with the DNS server silent, requests keep going to the last address');

my @lines;
for my $l (@loaders) {
    kill 'TERM', $l->[0];
    waitpid $l->[0], 0;
    open my $fh, '<', $l->[1] or die;
    push @lines, grep { /^\d/ } <$fh>;
}

my @failed = grep { (split ' ')[1] != 200 } @lines;
cmp_ok(scalar @lines, '>', 50, scalar(@lines) . ' requests under load');
is(scalar @failed, 0, 'every one of them a 200') or diag "@failed[0 .. 9]";

# resolutions run in the background: through the silence each one waits
# resolver_timeout (2 s) for nothing, and no request waits with it
my $longest = max map { (split ' ')[2] } @lines;
cmp_ok($longest, '<', 1, 'no request waits for a resolution');

diag sprintf '%d requests through the change and the silence, %d failed, '
           . 'the longest %.3f s', scalar @lines, scalar @failed, $longest;

# the silent name gets an answer: requests get it within a resolution
# under way (resolver_timeout) and the next, a second later

$t->dns_answer(%zone, $host => ['127.0.0.3'],
               'quiet.example.test' => ['127.0.0.3']);
my $b_quiet = answered('b');
$asked = time;
ok(CiJobsTest::wait_for(sub {
       $t->get("/quiet/jobs/$ID")->{status} == 200 }, 15),
   'the first answer: the name is served');
$waited = time - $asked;
cmp_ok($waited, '<', 2 + 1 + $SLACK, 'within resolver_timeout and a retry')
    or diag $waited;
is(answered('b') - $b_quiet, 1, 'from its address');

my @streak = $t->error_log =~ /"\Q$host\E" could not be resolved/g;
ok(@streak >= 1 && @streak <= 2,
   'one error a worker for the failure streak') or diag scalar @streak;

# a name that never resolves

my $nowhere = $t->get("/nowhere/jobs/$ID");
is($nowhere->{status}, 502, 'a name that does not resolve: 502');
is(CiJobsTest::error_code($nowhere), 'BadGateway', 'BadGateway');

my $again = $t->get("/nowhere/jobs/$ID");
is($again->{status}, 502, 'again');

is($t->get("/moving/jobs/$ID")->{status}, 200, 'nginx still serves');

my $metrics = $t->get('/status')->{body};
my ($changes) = $metrics
    =~ /^ci_jobs_upstream_resolutions_total\{result="changed"\} (\d+)/m;
my ($failures) = $metrics
    =~ /^ci_jobs_upstream_resolutions_total\{result="failed"\} (\d+)/m;
my ($same) = $metrics
    =~ /^ci_jobs_upstream_resolutions_total\{result="unchanged"\} (\d+)/m;
cmp_ok($changes // 0, '>=', 3, 'resolutions that changed the answer counted');
cmp_ok($failures // 0, '>=', 2, 'failed ones');
cmp_ok($same // 0, '>=', 2, 'unchanged ones');

$t->done;
done_testing;
